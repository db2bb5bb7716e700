"""Sentence records to Label Studio tasks and predictions (the only place that knows their JSON)."""

from __future__ import annotations

from typing import Any

from toolkit.labels import TEXT_FIELD, LabelSchema
from toolkit.studio.queue import QUEUE_SCORE, certainty

TASK_FIELDS = ("id", "article_id", "index", "kind")


def prediction_result(prediction: dict[str, Any], schema: LabelSchema, *, mentions_control: str | None = None) -> list[dict[str, Any]]:
    """One Label Studio result per control (and one per competitor span when the config has a span control)."""
    result = []
    for task in schema.tasks:
        block = prediction.get(task.name)
        if not block:
            continue
        choices = [block["label"]] if task.kind == "single" else list(block.get("labels", []))
        if choices:
            result.append(
                {"from_name": task.name, "to_name": TEXT_FIELD, "type": "choices", "value": {"choices": choices}}
            )
    if mentions_control:
        for span in prediction.get("competitors", []):
            result.append({
                "from_name": mentions_control, "to_name": TEXT_FIELD, "type": "labels",
                "value": {"start": span["start"], "end": span["end"], "text": span.get("surface"),
                          "labels": [schema.mentions.label]},
            })
    return result


def ls_prediction(record: dict[str, Any], schema: LabelSchema, *, mentions_control: str | None = None) -> dict[str, Any] | None:
    prediction = record.get("predictions")
    if not prediction:
        return None
    return {
        "model_version": prediction.get("model_version", "unknown"),
        "score": prediction.get(QUEUE_SCORE, certainty(prediction)),
        "result": prediction_result(prediction, schema, mentions_control=mentions_control),
    }


def to_task(record: dict[str, Any], schema: LabelSchema, *, mentions_control: str | None = None) -> dict[str, Any]:
    """Task JSON for import: data (text + ids) and the record's prediction, if any."""
    data = {TEXT_FIELD: record["text"], **{k: record[k] for k in TASK_FIELDS if k in record}}
    task: dict[str, Any] = {"data": data}
    prediction = ls_prediction(record, schema, mentions_control=mentions_control)
    if prediction is not None:
        task["predictions"] = [prediction]
    return task
