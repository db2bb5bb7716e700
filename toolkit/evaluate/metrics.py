"""Metric functions over plain label lists (scikit-learn underneath)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support
from sklearn.preprocessing import MultiLabelBinarizer


def _macro(per_label_f1: np.ndarray, used: np.ndarray) -> float:
    """Mean F1 over the labels in use (some example has or some prediction uses them); 0 when none is."""
    return float(per_label_f1[used].mean()) if used.any() else 0.0


def single_label_report(y_true: Sequence[str], y_pred: Sequence[str], *, labels: Sequence[str]) -> dict[str, Any]:
    """Accuracy, macro-F1 and per-class precision/recall/F1/support for one single-choice task.

    Macro-F1 averages over the labels that occur in ``y_true`` or ``y_pred`` (scikit-learn's default): a
    label no example has and no prediction uses, such as neutral on ChnSentiCorp, would otherwise count as
    an F1 of 0. Per-class figures list every label.
    """
    if len(y_true) != len(y_pred):
        raise ValueError(f"y_true has {len(y_true)} items but y_pred has {len(y_pred)}")
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=list(labels), zero_division=0)
    seen = set(y_true) | set(y_pred)
    return {
        "n": len(y_true),
        "accuracy": float(accuracy_score(y_true, y_pred)) if y_true else 0.0,
        "macro_f1": _macro(f, np.array([label in seen for label in labels])),
        "per_class": {
            label: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
            for i, label in enumerate(labels)
        },
    }


def multi_label_report(
    y_true: Sequence[Sequence[str]], y_pred: Sequence[Sequence[str]], *, labels: Sequence[str]
) -> dict[str, Any]:
    """Micro/macro-F1 and per-label precision/recall/F1 for a multi-choice task.

    Macro-F1 averages over the labels some example has or some prediction uses (a system that wrongly
    predicts an absent label scores 0 on it); per-label figures list every label.
    """
    if len(y_true) != len(y_pred):
        raise ValueError(f"y_true has {len(y_true)} items but y_pred has {len(y_pred)}")
    binarizer = MultiLabelBinarizer(classes=list(labels))
    t = binarizer.fit_transform(y_true)
    p_ = binarizer.transform(y_pred)
    p, r, f, s = precision_recall_fscore_support(t, p_, zero_division=0)
    return {
        "n": len(y_true),
        "micro_f1": float(f1_score(t, p_, average="micro", zero_division=0)),
        "macro_f1": _macro(f, (t.sum(0) + p_.sum(0)) > 0),
        "exact_match": float(sum(set(a) == set(b) for a, b in zip(y_true, y_pred)) / len(y_true)) if y_true else 0.0,
        "per_label": {
            label: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
            for i, label in enumerate(labels)
        },
    }


def span_report(y_true: Sequence[Sequence[tuple[int, int]]], y_pred: Sequence[Sequence[tuple[int, int]]]) -> dict[str, Any]:
    """Exact-match span precision, recall and F1 over units (each a list of ``(start, end)`` offsets), as
    seqeval and spaCy's ``ents_p/r/f`` count them: a span is right only with both offsets right."""
    if len(y_true) != len(y_pred):
        raise ValueError(f"y_true has {len(y_true)} items but y_pred has {len(y_pred)}")
    tp = sum(len(set(t) & set(p)) for t, p in zip(y_true, y_pred))
    n_true, n_pred = sum(len(set(t)) for t in y_true), sum(len(set(p)) for p in y_pred)
    precision = tp / n_pred if n_pred else 0.0
    recall = tp / n_true if n_true else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"n": len(y_true), "spans": n_true, "predicted": n_pred, "correct": tp,
            "precision": precision, "recall": recall, "f1": f1}
