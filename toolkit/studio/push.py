"""Idempotent push of sentence records to a Label Studio project.

Tasks are keyed by sentence id (``data.id``): a re-push imports only sentences the project lacks, adds a
prediction only for a new ``model_version``, updates a same-version prediction only if it changed, and
never touches annotations. Imports go in batches, so an interrupted push re-run ends with one task per
sentence.
"""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

from toolkit.errors import StudioError
from toolkit.labels import LabelSchema, label_config_xml, load_schema
from toolkit.progress import progress_bar
from toolkit.studio.client import NO_SDK_RETRIES, RETRIES, Studio, backoff
from toolkit.studio.index import ProjectState, PushIndex, result_digest
from toolkit.studio.queue import order_records, with_queue_scores
from toolkit.studio.tasks import ls_prediction, to_task

Order = Literal["input", "uncertainty"]
_LIST_PAGE = 10_000


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
    diversity: int | None = None,
    batch_size: int = 500,
    show_progress: bool = True,
) -> PushSummary:
    """Push ``records`` to the project titled ``project`` (created from the schema's config if missing).

    ``order="uncertainty"`` imports new tasks least certain first (:mod:`toolkit.studio.queue`; ``diversity``
    spreads each block of that many over articles); their prediction scores then follow that order."""
    schema = schema or load_schema()
    studio.check()
    project_id = studio.project_id(project, create_with=label_config_xml(schema, with_mentions=True))
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

    index = _load_index(studio, project_id, detail)
    new = [r for r in unique.values() if r["id"] not in index.tasks]
    if order == "uncertainty":
        new = with_queue_scores(order_records(new, diversity=diversity)) if diversity else order_records(new)
    try:
        with progress_bar(disable=not show_progress) as bar:
            job = bar.add_task("push tasks", total=len(new))
            for start in range(0, len(new), batch_size):
                chunk = new[start : start + batch_size]
                batch = [to_task(r, schema, mentions_control=mentions) for r in chunk]
                _import_tasks(studio, project_id, chunk, batch, index)
                summary.created += len(batch)
                summary.predictions_added += sum(1 for t in batch if "predictions" in t)
                bar.advance(job, len(batch))
        created = {r["id"] for r in new[: summary.created]}
        _sync_predictions(studio, project_id, unique, created, index, schema, mentions, summary, batch_size)
    finally:
        index.save()  # whatever happened, the counters decide next time whether it can be trusted
    return summary


def _project_state(studio: Studio, project_id: int, detail: Any) -> ProjectState:
    task_count = detail.task_number or 0
    last = None
    if task_count:
        page = studio.call("read the last task", studio.sdk.tasks.list, project=project_id, fields="task_only",
                           include="id", page_size=1, page=task_count)
        last = max((t.id for t in page.items), default=None)
    return ProjectState(task_count, detail.total_predictions_number or 0, last)


def _load_index(studio: Studio, project_id: int, detail: Any) -> PushIndex:
    """The local index if the project still matches it, else one rebuilt from the server's listings."""
    key = f"{studio.connection.url}|{project_id}|{detail.created_at}"
    state = _project_state(studio, project_id, detail)
    index = PushIndex.load(key)
    if index is not None and index.state == state:
        return index
    index = PushIndex(key, state)
    with ThreadPoolExecutor(max_workers=1) as pool:  # both listings at once: the server does most work
        predictions = pool.submit(studio.get_json, "list predictions", "/api/predictions", project=project_id)
        for task in iter_tasks(studio, project_id):
            if task["data"].get("id") is not None:
                index.tasks[task["data"]["id"]] = task["id"]
        for p in predictions.result():
            index.set_prediction(p["task"], p["model_version"], p["id"], result_digest(p["result"]))
    return index


def iter_tasks(studio: Studio, project_id: int, include: str = "id,data") -> Iterator[dict[str, Any]]:
    """Every task of the project as plain JSON with the ``include`` fields, page by page."""
    for page in itertools.count(1):
        listing = studio.get_json("list tasks", "/api/tasks", project=project_id, fields="task_only",
                                  include=include, page_size=_LIST_PAGE, page=page)
        yield from listing["tasks"]
        if page * _LIST_PAGE >= listing["total"]:
            break


def _import_tasks(studio: Studio, project_id: int, chunk: list[dict[str, Any]], batch: list[dict[str, Any]],
                  index: PushIndex) -> None:
    """Import one batch, exactly once.

    An import is not idempotent: a 502 or a timeout after the server committed would make a blind retry
    import the batch again. So neither the SDK nor ``Studio.call`` retries it; before each retry the project
    is listed, and the sentences it already has are dropped from the batch (and entered in the index)."""
    for attempt in range(RETRIES + 1):
        try:
            response = studio.call("import tasks", studio.sdk.projects.import_tasks, id=project_id, request=batch,
                                   return_task_ids=True, request_options=NO_SDK_RETRIES, retries=0)
        except StudioError as exc:
            if not exc.transient or attempt == RETRIES:
                raise
            backoff(attempt)
            present = {t["data"]["id"]: t["id"] for t in iter_tasks(studio, project_id) if t["data"].get("id") is not None}
            committed = [r["id"] for r in chunk if r["id"] in present]
            for sid in committed:
                index.tasks[sid] = present[sid]
            if committed:
                index.state.max_task_id = -1  # their predictions are not in the index: list the project next time
            pairs = [(r, t) for r, t in zip(chunk, batch) if r["id"] not in present]
            chunk, batch = [r for r, _ in pairs], [t for _, t in pairs]
            if not batch:
                return
            continue
        _record_import(index, chunk, batch, getattr(response, "task_ids", None))
        return
    raise AssertionError("unreachable")


def _record_import(index: PushIndex, chunk: list[dict[str, Any]], batch: list[dict[str, Any]], task_ids: list[int] | None) -> None:
    if not task_ids or len(task_ids) != len(chunk):
        index.state.max_task_id = -1  # ids unknown: the index cannot be trusted next time
        return
    for record, task, task_id in zip(chunk, batch, task_ids):
        index.tasks[record["id"]] = task_id
        for prediction in task.get("predictions", []):
            index.set_prediction(task_id, prediction["model_version"], None, result_digest(prediction["result"]))
            index.state.prediction_count += 1
    index.state.task_count += len(chunk)
    index.state.max_task_id = max([index.state.max_task_id or 0, *task_ids])


def _sync_predictions(
    studio: Studio, project_id: int, records: dict[str, dict[str, Any]], created: set[str], index: PushIndex,
    schema: LabelSchema, mentions: str | None, summary: PushSummary, batch_size: int,
) -> None:
    """Predictions for tasks that already existed: add new model versions, update changed ones."""
    to_add = []
    for sid, record in records.items():
        if sid in created:
            continue  # imported just now, with its prediction
        task_id = index.tasks.get(sid)
        prediction = ls_prediction(record, schema, mentions_control=mentions) if task_id is not None else None
        if prediction is None:
            continue
        digest = result_digest(prediction["result"])
        have = index.prediction(task_id, prediction["model_version"])
        if have is None:
            to_add.append({"task": task_id, **prediction})
            index.set_prediction(task_id, prediction["model_version"], None, digest)
        elif have[1] != digest:
            prediction_id = have[0] or _prediction_id(studio, task_id, prediction["model_version"])
            studio.call("update a prediction", studio.sdk.predictions.update, id=prediction_id,
                        result=prediction["result"], score=prediction["score"])
            index.set_prediction(task_id, prediction["model_version"], prediction_id, digest)
            summary.predictions_updated += 1
        else:
            summary.unchanged += 1
    for start in range(0, len(to_add), batch_size):
        batch = to_add[start : start + batch_size]
        studio.call("import predictions", studio.sdk.projects.import_predictions, id=project_id, request=batch)
        summary.predictions_added += len(batch)
        index.state.prediction_count += len(batch)


def _prediction_id(studio: Studio, task_id: int, version: str) -> int:
    for p in studio.call("list a task's predictions", studio.sdk.predictions.list, task=task_id):
        if p.model_version == version:
            return p.id
    raise StudioError(f"task {task_id} has no prediction for model version {version!r} any more")
