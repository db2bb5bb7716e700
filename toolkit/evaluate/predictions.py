"""Compare prediction blocks with reviewed labels, matched by sentence id."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from toolkit.errors import InputError
from toolkit.evaluate.metrics import multi_label_report, single_label_report
from toolkit.labels import LabelSchema, load_schema


def competitor_recall(gold: list[dict[str, Any]], predicted: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Recall of competitor mentions.

    With gold spans (``labels.mentions``) it is span recall (same entity, overlapping span). Without them
    (the shared export has none) it is the share of gold ``competitor``-topic units in which at least one
    competitor mention was found.
    """
    spans = [(g, m) for g in gold for m in (g["labels"].get("mentions") or [])]
    if spans:
        found = sum(
            any(
                p["entity"] == m["entity"] and p["start"] < m["end"] and m["start"] < p["end"]
                for p in predicted[g["id"]]["competitors"]
            )
            for g, m in spans
        )
        return {"level": "span", "n": len(spans), "recall": found / len(spans)}
    units = [g for g in gold if "competitor" in (g["labels"].get("topics") or [])]
    found = sum(bool(predicted[g["id"]]["competitors"]) for g in units)
    return {"level": "unit", "n": len(units), "recall": found / len(units) if units else 0.0}


def evaluate_predictions(
    predictions: Iterable[dict[str, Any]], gold: Iterable[dict[str, Any]], schema: LabelSchema | None = None
) -> dict[str, Any]:
    """Per-task metrics of prediction blocks against resolved gold labels.

    Gold units whose field still needs adjudication are left out of that field's metrics only.
    """
    schema = schema or load_schema()
    predicted = {r["id"]: r["predictions"] for r in predictions if r.get("predictions")}
    gold = [g for g in gold if g.get("labels")]
    missing = [g["id"] for g in gold if g["id"] not in predicted]
    if missing:
        raise InputError(
            f"{len(missing)} of {len(gold)} reviewed units have no prediction (first id: {missing[0]}); "
            "pre-annotate the same sentences that were reviewed"
        )
    report: dict[str, Any] = {"n_gold": len(gold)}
    for task in schema.tasks:
        rows = [g for g in gold if task.name in g["labels"]]
        if task.kind == "single":
            report[task.name] = single_label_report(
                [g["labels"][task.name] for g in rows],
                [predicted[g["id"]][task.name]["label"] for g in rows],
                labels=task.label_names,
            )
        else:
            report[task.name] = multi_label_report(
                [g["labels"][task.name] for g in rows],
                [predicted[g["id"]][task.name]["labels"] for g in rows],
                labels=task.label_names,
            )
    report["competitor_mentions"] = competitor_recall(gold, predicted)
    return report
