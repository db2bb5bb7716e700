"""Re-score a project's unlabelled tasks with a model so the review queue follows the newest model.

The tasks' sentences are predicted again (the same batch code as ``toolkit predict``), their predictions
for the model's version are added or updated through ``push`` (human annotations are never touched), and
the project is switched to Label Studio's uncertainty sampling on that model version, which serves the
lowest prediction score first. The score is the prediction's certainty over every task, or with
``diversity`` its place in the spread queue (:mod:`toolkit.studio.queue`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from toolkit.annotate import RulePreannotator
from toolkit.labels import LabelSchema, load_schema
from toolkit.model import TextClassifier
from toolkit.predict.batch import predict_records
from toolkit.studio.client import Studio
from toolkit.studio.push import PushSummary, iter_tasks, push
from toolkit.studio.queue import order_records, with_queue_scores

SAMPLING = "Uncertainty sampling"


@dataclass
class RerankSummary:
    model_version: str
    unlabelled: int
    labelled: int
    skipped: int  # tasks without the sentence id (``data.id``) that push keys tasks by
    push: PushSummary
    first: list[str]  # the sentence ids now at the head of the queue


def rerank(studio: Studio, project: str, model_dir: str | Path, *, diversity: int | None = None,
           schema: LabelSchema | None = None, device: str = "auto", batch_size: int = 64,
           show_progress: bool = True) -> RerankSummary:
    """Predict the project's unlabelled tasks with ``model_dir`` and order the queue by it."""
    schema = schema or load_schema()
    studio.check()
    project_id = studio.project_id(project)
    clf = TextClassifier.load(model_dir, device=device)
    records: list[dict[str, Any]] = []
    labelled = skipped = 0
    for task in iter_tasks(studio, project_id, include="id,data,total_annotations"):
        data = task["data"]
        if task.get("total_annotations"):
            labelled += 1
        elif data.get("id") is None or not isinstance(data.get("text"), str):
            skipped += 1
        else:
            records.append({"id": data["id"], "article_id": str(data.get("article_id", "")), "text": data["text"],
                            **{k: data[k] for k in ("index", "kind") if k in data}})
    predicted = list(predict_records(clf, records, batch_size=batch_size, mentions=clf.rules or RulePreannotator(schema)))
    ordered = order_records(predicted, diversity=diversity)
    if diversity:
        ordered = with_queue_scores(ordered)
    summary = push(studio, ordered, project, schema=schema, show_progress=show_progress)
    studio.call("set uncertainty sampling", studio.sdk.projects.update, id=project_id, sampling=SAMPLING,
                model_version=clf.model_version)
    return RerankSummary(clf.model_version, len(records), labelled, skipped, summary, [r["id"] for r in ordered[:10]])
