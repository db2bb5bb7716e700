"""Fast, bounded-memory batch inference.

Records are read in windows of ``window`` units; inside a window they are sorted by length so each
batch pads only to its own longest unit, then written back in input order. Memory stays bounded by the
window whatever the input size.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import torch

from toolkit.annotate import RulePreannotator
from toolkit.ingest.normalize import normalize
from toolkit.model import TextClassifier


def prediction_blocks(clf: TextClassifier, probs: dict[str, np.ndarray], n: int) -> list[dict[str, Any]]:
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


@torch.inference_mode()
def predict_probs(clf: TextClassifier, texts: list[str], *, batch_size: int = 64,
                  articles: list[str] | None = None) -> dict[str, np.ndarray]:
    """Probabilities for ``texts`` computed in length-sorted batches, returned in the original order
    (``articles``: each text's article id, for a model with ``topic_context``).

    Sorting by character length groups texts of nearly the same token length (Chinese is about one token
    per character or two) without tokenising everything twice.
    """
    order = np.argsort([len(t) for t in texts], kind="stable")
    sorted_probs = clf.predict_proba([texts[i] for i in order], batch_size=batch_size,
                                     articles=None if articles is None else [articles[i] for i in order])
    restored = {}
    for name, p in sorted_probs.items():
        out = np.empty_like(p)
        out[order] = p
        restored[name] = out
    return restored


def predict_records(
    clf: TextClassifier, records: Iterable[dict[str, Any]], *, batch_size: int = 64, window: int = 2048,
    mentions: RulePreannotator | None = None,
) -> Iterator[dict[str, Any]]:
    """Yield each record with a ``predictions`` block, in input order, holding at most ``window`` in memory.

    ``mentions`` (a rule pre-annotator) adds competitor spans, which the model does not predict. A model
    with ``topic_context`` sees an article's sentences within the same window of ``window`` records.
    """
    iterator = iter(records)
    while chunk := list(itertools.islice(iterator, window)):
        texts = [r["text"] for r in chunk]
        articles = [str(r.get("article_id", "")) for r in chunk]
        blocks = prediction_blocks(clf, predict_probs(clf, texts, batch_size=batch_size, articles=articles), len(chunk))
        if mentions is not None:
            for record, block, rules in zip(chunk, blocks, mentions.annotate(chunk)):
                block["competitors"] = rules["predictions"]["competitors"]
        for record, block in zip(chunk, blocks):
            out = dict(record)
            out["text_norm"] = record.get("text_norm") or normalize(record["text"])
            out["predictions"] = block
            yield out
