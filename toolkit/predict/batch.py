"""Fast, bounded-memory batch inference.

Records are read in windows of ``window`` units; inside a window the classifier sorts them by token count
and batches them under a token budget (``Classifier.predict_proba``), so each batch pads only to its own
longest unit; they are written back in input order. Memory stays bounded by the window whatever the input
size.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from toolkit.annotate import RulePreannotator
from toolkit.ingest.normalize import normalize
from toolkit.model import Classifier

# Padded tokens per forward pass: small enough for a batch's activations to stay near the CPU's caches,
# large enough for full-speed matmuls (benchmarks/predict_scale.py).
BATCH_TOKENS = 2048


def prediction_blocks(clf: Classifier, probs: dict[str, np.ndarray], n: int) -> list[dict[str, Any]]:
    """Turn per-task probability arrays into ``predictions`` blocks (same shape as the rule pre-annotator's;
    a multi-choice block also names its tuned ``thresholds``, which the review queue measures certainty by)."""
    blocks: list[dict[str, Any]] = [{"model_version": clf.model_version} for _ in range(n)]
    decided = clf.decide(probs)
    for task in clf.tasks:
        name, labels = task["name"], task["labels"]
        multi = task["kind"] == "multi"
        for i, row in enumerate(probs[name].tolist()):
            block = {"labels" if multi else "label": decided[name][i], "scores": dict(zip(labels, row))}
            if multi:
                block["thresholds"] = clf.meta["thresholds"][name]
            blocks[i][name] = block
    return blocks


def predict_records(
    clf: Classifier, records: Iterable[dict[str, Any]], *, batch_size: int = 64,
    batch_tokens: int | None = BATCH_TOKENS, window: int = 2048, mentions: RulePreannotator | None = None,
) -> Iterator[dict[str, Any]]:
    """Yield each record with a ``predictions`` block, in input order, holding at most ``window`` in memory.

    ``mentions`` (a rule pre-annotator) adds competitor spans, which the model does not predict. A model
    with ``topic_context`` sees an article's sentences within the same window of ``window`` records.
    """
    iterator = iter(records)
    while chunk := list(itertools.islice(iterator, window)):
        texts = [r["text"] for r in chunk]
        articles = [str(r.get("article_id", "")) for r in chunk]
        probs = clf.predict_proba(texts, batch_size=batch_size, batch_tokens=batch_tokens, articles=articles)
        blocks = prediction_blocks(clf, probs, len(chunk))
        if mentions is not None:
            for record, block, rules in zip(chunk, blocks, mentions.annotate(chunk)):
                block["competitors"] = rules["predictions"]["competitors"]
        for record, block in zip(chunk, blocks):
            out = dict(record)
            out["text_norm"] = record.get("text_norm") or normalize(record["text"])
            out["predictions"] = block
            yield out
