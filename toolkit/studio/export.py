"""Convert a Label Studio JSON export into reviewed sentence records.

Each record keeps every annotator's labels (``annotations``) and a resolved ``labels`` block where all
annotators agree; disagreements are flagged ``needs_adjudication``. Cancelled (skipped) annotations are
excluded. Tasks without an ``id`` in their data get the id ingest would compute (article id + text).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from toolkit.errors import InputError, RecordError
from toolkit.ingest.normalize import normalize
from toolkit.labels import LabelSchema, load_schema
from toolkit.records import sentence_id


def _annotation_labels(annotation: dict[str, Any], schema: LabelSchema, where: str) -> dict[str, Any]:
    labels: dict[str, Any] = {}
    for result in annotation.get("result", []):
        name = result.get("from_name")
        if result.get("type") != "choices":
            continue
        if name not in schema.task_names:
            raise RecordError(f"{where}: unknown control {name!r}; the schema has {', '.join(schema.task_names)}")
        task = schema.task(name)
        choices = result.get("value", {}).get("choices", [])
        unknown = sorted(set(choices) - set(task.label_names))
        if unknown:
            raise RecordError(f"{where}: unknown {name} label(s) {', '.join(unknown)}")
        labels[name] = sorted(choices) if task.kind == "multi" else (choices[0] if choices else None)
    for task in schema.tasks:
        if task.kind == "multi":
            labels.setdefault(task.name, [])  # an empty multi-choice means "none applies"
    return labels


def read_export(path: str | Path, schema: LabelSchema | None = None) -> list[dict[str, Any]]:
    """Reviewed sentence records from a Label Studio JSON export file."""
    schema = schema or load_schema()
    path = Path(path)
    try:
        tasks = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: cannot read Label Studio export ({exc})") from None
    if not isinstance(tasks, list):
        raise InputError(f"{path}: expected a JSON list of tasks (Label Studio 'JSON' export)")
    tasks = sorted(tasks, key=lambda t: (str(t["data"].get("article_id", "")), t["data"].get("sentence_index", 0)))
    occurrences: Counter[tuple[str, str]] = Counter()
    records = []
    for task in tasks:
        data = task["data"]
        text = data["text"]
        norm = normalize(text)
        article_id = str(data.get("article_id", ""))
        record_id = data.get("id")
        if record_id is None:
            record_id = sentence_id(article_id, norm, occurrences[(article_id, norm)])
        occurrences[(article_id, norm)] += 1
        annotations = [
            {"annotator": a.get("completed_by"), **_annotation_labels(a, schema, f"{path} task {task.get('id')}")}
            for a in task.get("annotations", [])
            if not a.get("was_cancelled")
        ]
        record = {
            "id": record_id,
            "article_id": article_id,
            "index": data.get("index", data.get("sentence_index", 0)),
            "text": text,
            "text_norm": norm,
            "annotations": annotations,
            "labels": resolve(annotations, schema),
        }
        records.append(record)
    return records


def resolve(annotations: list[dict[str, Any]], schema: LabelSchema) -> dict[str, Any] | None:
    """Unanimous labels per task; a task where annotators differ is listed in ``needs_adjudication``."""
    if not annotations:
        return None
    resolved: dict[str, Any] = {}
    disputed = []
    for task in schema.tasks:
        values = {json.dumps(a.get(task.name)) for a in annotations}
        if len(values) == 1:
            resolved[task.name] = annotations[0].get(task.name)
        else:
            disputed.append(task.name)
    if disputed:
        resolved["needs_adjudication"] = disputed
    return resolved
