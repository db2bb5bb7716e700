"""Query strategies for the review queue (after small-text and modAL): which sentence a reviewer sees next.

``certainty`` scores one prediction block over every task: a single-choice task by its margin (top
probability minus the runner-up), a multi-choice task by how far its label nearest to its threshold is
from that threshold (scaled to 0–1 on that side), averaged over the tasks. Label Studio's uncertainty
sampling shows the lowest prediction score first, so this is the score pushed with each prediction.

``order_records`` sorts least certain first; with ``diversity`` it also spreads the queue: within every block
of ``diversity`` positions no article takes more than ``per_article`` places and no sentence is a near
copy (character-bigram Jaccard ≥ ``near_duplicate``) of one already in the block, so a reviewer does not
get twenty near-identical sentences from one article in a row. The skipped ones keep their order and come
later.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

QUEUE_SCORE = "queue_score"  # a prediction block's score for Label Studio, where the order is not certainty alone
_SCAN = 2000  # candidates looked at per position before giving up on diversity for that position


def _task_certainty(block: dict[str, Any]) -> float | None:
    scores = block.get("scores")
    if not isinstance(scores, dict) or not scores:
        return None
    if "label" in block:  # single choice: the margin
        top = sorted(scores.values(), reverse=True)
        return top[0] - (top[1] if len(top) > 1 else 0.0)
    thresholds = block.get("thresholds") or {}
    distances = []
    for label, p in scores.items():
        t = thresholds.get(label, 0.5)
        side = t if p < t else 1 - t
        distances.append(abs(p - t) / side if side > 0 else 1.0)
    return min(distances)


def certainty(prediction: dict[str, Any]) -> float | None:
    """Mean over the prediction's tasks of their certainty (0 = a coin toss, 1 = sure); None without scores."""
    values = [c for b in prediction.values() if isinstance(b, dict) and (c := _task_certainty(b)) is not None]
    return sum(values) / len(values) if values else None


def record_certainty(record: dict[str, Any]) -> float:
    value = certainty(record.get("predictions") or {})
    return 1.0 if value is None else value


def _bigrams(text: str) -> set[str]:
    return {text[i : i + 2] for i in range(len(text) - 1)} or {text}


def order_records(records: Sequence[dict[str, Any]], *, diversity: int | None = None, per_article: int = 3,
                  near_duplicate: float = 0.8) -> list[dict[str, Any]]:
    """Least certain first; with ``diversity`` (a block size) spread over articles and without near copies."""
    ranked = sorted(records, key=record_certainty)
    if not diversity:
        return ranked
    remaining, out = list(ranked), []
    while remaining:
        block: list[dict[str, Any]] = []
        articles: Counter[str] = Counter()
        grams: list[set[str]] = []
        while remaining and len(block) < diversity:
            pick = 0
            for i, record in enumerate(remaining[:_SCAN]):
                article = str(record.get("article_id", ""))
                g = _bigrams(record.get("text_norm") or record["text"])
                if articles[article] < per_article and all(len(g & h) / len(g | h) < near_duplicate for h in grams):
                    pick = i
                    break
            record = remaining.pop(pick)
            block.append(record)
            articles[str(record.get("article_id", ""))] += 1
            grams.append(_bigrams(record.get("text_norm") or record["text"]))
        out.extend(block)
    return out


def with_queue_scores(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Copies of ``records`` (already in queue order) whose prediction score is their place in the queue
    (0 first, rising to 1), so Label Studio's uncertainty sampling follows the order exactly."""
    n = max(len(records) - 1, 1)
    return [{**r, "predictions": {**(r.get("predictions") or {}), QUEUE_SCORE: i / n}} for i, r in enumerate(records)]
