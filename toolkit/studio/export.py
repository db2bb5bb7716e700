"""Label Studio tasks (a JSON export file or a live project) to reviewed sentence records.

Each record keeps every annotator's labels (``annotations``) and a resolved ``labels`` block (see
:mod:`toolkit.studio.adjudicate`). Cancelled (skipped) annotations are excluded; an unknown control or label
is an error listing them. Tasks without ``id`` in their data get the id ingest would compute.

Competitor spans (a ``Labels`` control) come back as ``mentions``: ``[{"start", "end", "text", "label"}]``
with offsets into the sentence. Where the project has a span control, an annotation without spans says the
sentence names no competitor (``[]``); where it has none, no ``mentions`` field is written at all, so a
missing span is never read as a reviewed "none". A live project's config tells which; for an export file,
any span in the file does.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from toolkit.errors import InputError, RecordError
from toolkit.io import read_records
from toolkit.ingest.normalize import normalize
from toolkit.labels import LabelSchema, load_schema
from toolkit.records import sentence_id
from toolkit.studio.adjudicate import MENTIONS, Policy, resolve
from toolkit.studio.client import Studio


def _annotation_labels(annotation: dict[str, Any], schema: LabelSchema, problems: set[str], *,
                       spans: bool) -> dict[str, Any]:
    labels: dict[str, Any] = {"annotator": annotation.get("completed_by")}
    if spans:
        labels[MENTIONS] = []
    for result in annotation.get("result", []):
        name = result.get("from_name")
        if result.get("type") == "labels" and spans:
            labels[MENTIONS].append(_span(result, schema, problems))
            continue
        if result.get("type") != "choices":
            continue
        if name not in schema.task_names:
            problems.add(f"unknown control {name!r}")
            continue
        task = schema.task(name)
        value = result.get("value")
        choices = value.get("choices", []) if isinstance(value, dict) else None
        if not isinstance(choices, list) or not all(isinstance(c, str) for c in choices):
            problems.add(f"{name} choices that are not a list of labels")
            continue
        problems.update(f"unknown {name} label {c!r}" for c in choices if c not in task.label_names)
        labels[name] = sorted(choices) if task.kind == "multi" else (choices[0] if choices else None)
    for task in schema.tasks:
        if task.kind == "multi":
            labels.setdefault(task.name, [])  # an empty multi-choice means "none applies"
    if spans:
        labels[MENTIONS].sort(key=lambda m: (m["start"], m["end"]))
    return labels


def _span(result: dict[str, Any], schema: LabelSchema, problems: set[str]) -> dict[str, Any]:
    value = result.get("value") or {}
    label = (value.get("labels") or [schema.mentions.label])[0]
    if label != schema.mentions.label:
        problems.add(f"unknown span label {label!r}")
    if not isinstance(value.get("start"), int) or not isinstance(value.get("end"), int):
        problems.add(f"span result without character offsets in {result.get('from_name')!r}")
        return {"start": -1, "end": -1, "text": value.get("text"), "label": label}
    return {"start": value["start"], "end": value["end"], "text": value.get("text"), "label": label}


def _position(task: dict[str, Any]) -> tuple[str, int]:
    data = task["data"]
    index = data.get("index", data.get("sentence_index", 0))
    return str(data.get("article_id", "")), index if isinstance(index, int) else 0


def has_spans(tasks: Sequence[dict[str, Any]]) -> bool:
    """Whether any annotation of ``tasks`` marks a span (an export file's sign of a span control)."""
    return any(r.get("type") == "labels" for t in tasks for a in t.get("annotations", []) for r in a.get("result", []))


def tasks_to_records(
    tasks: Sequence[dict[str, Any]],
    schema: LabelSchema | None = None,
    *,
    policy: Policy = "majority",
    priority: Sequence[Any] = (),
    source: str = "export",
    spans: bool | None = None,
) -> list[dict[str, Any]]:
    """Reviewed sentence records from Label Studio task dicts (export format); ``spans``: whether the project
    has a span control (default: whether any annotation marks a span)."""
    schema = schema or load_schema()
    for n, task in enumerate(tasks, 1):
        if not isinstance(task, dict) or not isinstance(task.get("data"), dict):
            what = f"task {task.get('id')}" if isinstance(task, dict) and task.get("id") is not None else f"item {n}"
            raise RecordError(f"{source}: {what} is not a Label Studio task (no 'data' object)")
        if not isinstance(task["data"].get("text"), str):
            raise RecordError(f"{source}: task {task.get('id')} has no 'text' string in its data")
        annotations = task.get("annotations", [])
        if not isinstance(annotations, list) or not all(
            isinstance(a, dict) and isinstance(a.get("result", []), list) and all(isinstance(r, dict) for r in a.get("result", []))
            for a in annotations
        ):
            raise RecordError(f"{source}: task {task.get('id')} has annotations that are not Label Studio annotations "
                              "(a list of objects, each with a list of result objects)")
    spans = has_spans(tasks) if spans is None else spans
    ordered = sorted(tasks, key=_position)
    occurrences: Counter[tuple[str, str]] = Counter()
    problems: set[str] = set()
    records = []
    for task in ordered:
        data = task["data"]
        norm = normalize(data["text"])
        article_id = str(data.get("article_id", ""))
        record_id = data.get("id") or sentence_id(article_id, norm, occurrences[(article_id, norm)])
        occurrences[(article_id, norm)] += 1
        annotations = [
            _annotation_labels(a, schema, problems, spans=spans) for a in task.get("annotations", [])
            if not a.get("was_cancelled")
        ]
        record = {
            "id": record_id,
            "article_id": article_id,
            "index": data.get("index", data.get("sentence_index", 0)),
            "text": data["text"],
            "text_norm": norm,
            "annotations": annotations,
            "labels": resolve(annotations, schema, policy=policy, priority=priority),
            "studio_task_id": task.get("id"),
        }
        if "kind" in data:
            record["kind"] = data["kind"]
        records.append(record)
    if problems:
        raise RecordError(f"{source}: labels that the schema does not define: {'; '.join(sorted(problems))}")
    return records


def read_export(
    path: str | Path, schema: LabelSchema | None = None, *, policy: Policy = "majority", priority: Sequence[Any] = ()
) -> list[dict[str, Any]]:
    """Reviewed records from a Label Studio JSON export file."""
    path = Path(path)
    try:  # orjson: invalid UTF-8 and lone surrogate escapes are errors here, not crashes when records are written
        tasks = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise InputError(f"{path}: cannot read Label Studio export ({exc})") from None
    if not isinstance(tasks, list):
        raise InputError(f"{path}: expected a JSON list of tasks (Label Studio 'JSON' export)")
    return tasks_to_records(tasks, schema, policy=policy, priority=priority, source=str(path))


def read_reviewed(
    path: str | Path, schema: LabelSchema | None = None, *, policy: Policy = "majority", priority: Sequence[Any] = ()
) -> list[dict[str, Any]]:
    """Reviewed records from a Label Studio JSON export (``.json``) or a reviewed JSONL/Parquet file."""
    path = Path(path)
    if path.suffix.lower() == ".json":
        return read_export(path, schema, policy=policy, priority=priority)
    return list(read_records(path))


def pull(
    studio: Studio, project: str, schema: LabelSchema | None = None, *, policy: Policy = "majority",
    priority: Sequence[Any] = (),
) -> list[dict[str, Any]]:
    """Reviewed records for every task of a live project (through a JSON export snapshot)."""
    studio.check()
    project_id = studio.project_id(project)
    tasks = studio.call("export the project", studio.sdk.projects.exports.as_json, project_id)
    detail = studio.call("read the project", studio.sdk.projects.get, id=project_id)
    spans = "<Labels" in (detail.label_config or "")
    return tasks_to_records(tasks, schema, policy=policy, priority=priority, source=f"project {project!r}", spans=spans)
