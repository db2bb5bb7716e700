"""Idempotent push of sentence records to a Label Studio project.

Tasks are keyed by sentence id (``data.id``): a re-push imports only sentences the project lacks, adds a
prediction only for a new ``model_version``, updates a same-version prediction only if it changed, and
never touches annotations. Imports go in batches, so an interrupted push re-run ends with one task per
sentence.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from toolkit.errors import StudioError
from toolkit.labels import LabelSchema, label_config_xml, load_schema
from toolkit.progress import progress_bar
from toolkit.studio.client import Studio
from toolkit.studio.tasks import ls_prediction, to_task, uncertainty_key

Order = Literal["input", "uncertainty"]
_LIST_PAGE = 5000


@dataclass
class PushSummary:
    project_id: int
    created: int = 0
    predictions_added: int = 0
    predictions_updated: int = 0
    unchanged: int = 0
    duplicates_in_input: int = 0


def _controls(label_config: str) -> dict[str, str]:
    return {el.get("name"): el.tag for el in ET.fromstring(label_config).iter() if el.get("toName")}


def push(
    studio: Studio,
    records: Iterable[dict[str, Any]],
    project: str,
    *,
    schema: LabelSchema | None = None,
    order: Order = "input",
    batch_size: int = 500,
    show_progress: bool = True,
) -> PushSummary:
    """Push ``records`` to the project titled ``project`` (created from the schema's config if missing)."""
    schema = schema or load_schema()
    studio.check()
    project_id = studio.project_id(project, create_with=label_config_xml(schema))
    detail = studio.call("read the project", studio.sdk.projects.get, id=project_id)
    controls = _controls(detail.label_config)
    missing = [t for t in schema.task_names if controls.get(t) != "Choices"]
    if missing:
        raise StudioError(f"project {project!r} has no Choices control named {', '.join(missing)}; "
                          "its label config does not match labels/schema.yaml")
    mentions = next((name for name, tag in controls.items() if tag == "Labels"), None)

    unique: dict[str, dict[str, Any]] = {}
    summary = PushSummary(project_id)
    for record in records:
        if record["id"] in unique:
            summary.duplicates_in_input += 1
        else:
            unique[record["id"]] = record

    existing = {
        task.data.get("id"): task.id
        for task in studio.call(
            "list tasks", studio.sdk.tasks.list, project=project_id, fields="task_only", include="id,data",
            page_size=_LIST_PAGE,
        )
    }
    new = [r for r in unique.values() if r["id"] not in existing]
    if order == "uncertainty":
        new.sort(key=lambda r: uncertainty_key(r, schema))
    with progress_bar(disable=not show_progress) as bar:
        job = bar.add_task("push tasks", total=len(new))
        for start in range(0, len(new), batch_size):
            batch = [to_task(r, schema, mentions_control=mentions) for r in new[start : start + batch_size]]
            studio.call("import tasks", studio.sdk.projects.import_tasks, id=project_id, request=batch)
            summary.created += len(batch)
            summary.predictions_added += sum(1 for t in batch if "predictions" in t)
            bar.advance(job, len(batch))

    _sync_predictions(studio, project_id, unique, existing, schema, mentions, summary, batch_size)
    return summary


def _sync_predictions(
    studio: Studio, project_id: int, records: dict[str, dict[str, Any]], existing: dict[str, int],
    schema: LabelSchema, mentions: str | None, summary: PushSummary, batch_size: int,
) -> None:
    """Predictions for tasks that already existed: add new model versions, update changed ones."""
    wanted = {
        existing[sid]: prediction
        for sid, record in records.items()
        if sid in existing and (prediction := ls_prediction(record, schema, mentions_control=mentions))
    }
    if not wanted:
        return
    current = {
        (p.task, p.model_version): p
        for p in studio.call("list predictions", studio.sdk.predictions.list, project=project_id)
    }
    to_add = []
    for task_id, prediction in wanted.items():
        have = current.get((task_id, prediction["model_version"]))
        if have is None:
            to_add.append({"task": task_id, **prediction})
        elif have.result != prediction["result"]:
            studio.call("update a prediction", studio.sdk.predictions.update, id=have.id,
                        result=prediction["result"], score=prediction["score"])
            summary.predictions_updated += 1
        else:
            summary.unchanged += 1
    for start in range(0, len(to_add), batch_size):
        batch = to_add[start : start + batch_size]
        studio.call("import predictions", studio.sdk.projects.import_predictions, id=project_id, request=batch)
        summary.predictions_added += len(batch)
