"""Integration tests against a real Label Studio server started for this test run (no mocks)."""

import json
import os
import time
from pathlib import Path

import pytest
from conftest import served
from typer.testing import CliRunner

from toolkit.annotate import RulePreannotator
from toolkit.cli import app
from toolkit.errors import StudioError
from toolkit.ingest import ingest
from toolkit.io import read_records, write_records
from toolkit.studio import server
from toolkit.studio.client import Studio, resolve_connection
from toolkit.studio.export import pull
from toolkit.studio.push import push

runner = CliRunner()


@pytest.fixture(scope="session")
def studio_server(tmp_path_factory):
    """One server per test run: migrate once, a free port, HOME in a temp dir, stopped by PID."""
    data_dir = tmp_path_factory.mktemp("studio")
    info, credentials = server.start(data_dir, server.free_port(), timeout=400)
    assert credentials is not None and credentials["token"]
    assert oct((data_dir / "credentials.json").stat().st_mode & 0o777) == "0o600"
    yield info
    assert server.stop(data_dir)
    assert server.server_info(data_dir) is None


@pytest.fixture(scope="session")
def records(tmp_path_factory, examples):
    out = tmp_path_factory.mktemp("records") / "s.jsonl"
    ingest([examples], out, show_progress=False)
    return list(RulePreannotator().annotate(read_records(out)))


@pytest.fixture
def studio(studio_server):
    return Studio(resolve_connection(data_dir=studio_server.data_dir))


def _tasks(studio, project_id):
    return list(studio.sdk.tasks.list(project=project_id, fields="all", page_size=1000))


def test_status_command_sees_the_running_server(studio_server):
    result = runner.invoke(app, ["studio", "status", "--data-dir", str(studio_server.data_dir)])
    assert result.exit_code == 0 and "healthy" in result.output
    assert server.start(studio_server.data_dir)[0].pid == studio_server.pid  # already running: reused


def test_push_is_idempotent_and_versions_predictions(studio, records):
    first = push(studio, records, "push-test", show_progress=False)
    assert (first.created, first.predictions_added) == (len(records), len(records))
    tasks = _tasks(studio, first.project_id)
    assert sorted(t.data["id"] for t in tasks) == sorted(r["id"] for r in records)
    version = records[0]["predictions"]["model_version"]
    assert all([p.model_version for p in t.predictions] == [version] for t in tasks)
    by_id = {r["id"]: r for r in records}
    some = tasks[0]
    choices = {x["from_name"]: x["value"]["choices"] for x in some.predictions[0].result}
    assert choices["sentiment"] == [by_id[some.data["id"]]["predictions"]["sentiment"]["label"]]

    again = push(studio, records, "push-test", show_progress=False)
    assert (again.created, again.predictions_added, again.unchanged) == (0, 0, len(records))

    bumped = [dict(r, predictions=dict(r["predictions"], model_version="rules-next")) for r in records]
    third = push(studio, bumped, "push-test", show_progress=False)
    assert (third.created, third.predictions_added) == (0, len(records))
    assert all(len(t.predictions) == 2 for t in _tasks(studio, first.project_id))


def test_annotate_then_pull_and_human_work_is_never_touched(studio, records):
    summary = push(studio, records[:6], "review-test", show_progress=False)
    tasks = sorted(_tasks(studio, summary.project_id), key=lambda t: t.id)
    result = [
        {"from_name": "sentiment", "to_name": "text", "type": "choices", "value": {"choices": ["negative"]}},
        {"from_name": "stance", "to_name": "text", "type": "choices", "value": {"choices": ["risk"]}},
        {"from_name": "topics", "to_name": "text", "type": "choices", "value": {"choices": ["finance"]}},
    ]
    annotation = studio.sdk.annotations.create(id=tasks[0].id, result=result)
    studio.sdk.annotations.create(id=tasks[1].id, result=[], was_cancelled=True)

    changed = [dict(r, predictions=dict(r["predictions"], model_version="rules-other")) for r in records[:6]]
    push(studio, changed, "review-test", show_progress=False)
    kept = studio.sdk.annotations.get(id=annotation.id)
    assert kept.result == result and kept.was_cancelled is False

    reviewed = {r["studio_task_id"]: r for r in pull(studio, "review-test")}
    first = reviewed[tasks[0].id]
    assert first["id"] == tasks[0].data["id"]
    assert first["labels"]["sentiment"] == "negative" and first["labels"]["topics"] == ["finance"]
    assert reviewed[tasks[1].id]["annotations"] == [] and reviewed[tasks[1].id]["labels"] is None


def test_interrupted_push_rerun_ends_with_one_task_per_sentence(studio, records, monkeypatch):
    calls = {"n": 0}
    real_call = Studio.call

    def failing_call(self, what, fn, *args, **kwargs):
        if what == "import tasks":
            calls["n"] += 1
            if calls["n"] == 3:
                raise StudioError("simulated crash after two batches")
        return real_call(self, what, fn, *args, **kwargs)

    monkeypatch.setattr(Studio, "call", failing_call)
    with pytest.raises(StudioError, match="simulated crash"):
        push(studio, records, "interrupted", batch_size=10, show_progress=False)
    monkeypatch.setattr(Studio, "call", real_call)
    project_id = studio.project_id("interrupted")
    assert len(_tasks(studio, project_id)) == 20

    rerun = push(studio, records, "interrupted", batch_size=10, show_progress=False)
    assert rerun.created == len(records) - 20
    ids = [t.data["id"] for t in _tasks(studio, project_id)]
    assert sorted(ids) == sorted(r["id"] for r in records)


def test_uncertainty_order_puts_least_certain_first(studio, records):
    summary = push(studio, records, "ordered", order="uncertainty", show_progress=False)
    tasks = sorted(_tasks(studio, summary.project_id), key=lambda t: t.id)
    scores = [t.predictions[0].score for t in tasks]
    assert scores == sorted(scores)


def test_push_and_pull_commands(studio_server, records, tmp_path):
    path = tmp_path / "pre.jsonl"
    write_records(path, records)
    data_dir = str(studio_server.data_dir)
    result = runner.invoke(app, ["studio", "push", str(path), "--project", "cli-test", "--data-dir", data_dir])
    assert result.exit_code == 0, result.output
    assert "created" in result.output
    out = tmp_path / "reviewed.jsonl"
    result = runner.invoke(app, ["studio", "pull", "--project", "cli-test", "--out", str(out), "--data-dir", data_dir])
    assert result.exit_code == 0, result.output
    assert len(list(read_records(out))) == len(records)
    assert studio_server.url in result.output or "tasks" in result.output
    token = json.loads((studio_server.data_dir / "credentials.json").read_text())["token"]
    assert token not in result.output


def test_server_down_gives_one_clear_error(tmp_path, records):
    path = tmp_path / "pre.jsonl"
    write_records(path, records[:2])
    closed = f"http://127.0.0.1:{server.free_port()}"
    env = dict(os.environ, LABEL_STUDIO_API_KEY="0123456789abcdef")
    result = runner.invoke(app, ["studio", "push", str(path), "--project", "x", "--url", closed], env=env)
    assert result.exit_code == 1
    assert "not reachable" in result.output and "Traceback" not in result.output


def test_repush_notices_changes_made_in_the_ui(studio, records):
    summary = push(studio, records[:5], "ui-changes", show_progress=False)
    deleted = _tasks(studio, summary.project_id)[0]
    studio.sdk.tasks.delete(id=deleted.id)  # a reviewer deletes a task: the local index is now stale
    again = push(studio, records[:5], "ui-changes", show_progress=False)
    assert again.created == 1
    assert sorted(t.data["id"] for t in _tasks(studio, summary.project_id)) == sorted(r["id"] for r in records[:5])


def test_same_version_with_a_changed_prediction_is_updated(studio, records):
    summary = push(studio, records[:3], "updated", show_progress=False)
    changed = [dict(r, predictions=dict(r["predictions"], sentiment={"label": "negative", "scores": {
        "positive": 0.1, "neutral": 0.1, "negative": 0.8}})) for r in records[:3]]
    again = push(studio, changed, "updated", show_progress=False)
    assert (again.predictions_updated, again.predictions_added) == (3, 0)
    for task in _tasks(studio, summary.project_id):
        assert len(task.predictions) == 1
        sentiment = next(x for x in task.predictions[0].result if x["from_name"] == "sentiment")
        assert sentiment["value"]["choices"] == ["negative"]


def test_ml_backend_serves_live_predictions_to_label_studio(studio, tiny_model, records):
    """Connect the backend to a real project, retrieve predictions for its tasks, check them via the SDK."""
    from toolkit.serve.backend import ModelBackend

    backend = ModelBackend(tiny_model)
    with served(backend) as client:
        plain = [{k: v for k, v in r.items() if k != "predictions"} for r in records[:6]]
        summary = push(studio, plain, "backend-test", show_progress=False)
        studio.sdk.ml.create(project=summary.project_id, url=f"http://127.0.0.1:{client.port}", title="toolkit",
                             is_interactive=False)
        studio.sdk.actions.create(id="retrieve_tasks_predictions", project=summary.project_id,
                                  selected_items={"all": True, "excluded": []})
        predictions = studio.sdk.predictions.list(project=summary.project_id)
        version = backend.model.model_version
        assert sorted(p.task for p in predictions) == sorted(t.id for t in _tasks(studio, summary.project_id))
        assert {p.model_version for p in predictions} == {version}
        assert all({r["from_name"] for r in p.result} >= {"sentiment", "stance"} for p in predictions)


def _annotation_result(task, sentiment="negative"):
    return [{"from_name": "sentiment", "to_name": "text", "type": "choices", "value": {"choices": [sentiment]}},
            {"from_name": "stance", "to_name": "text", "type": "choices", "value": {"choices": ["risk"]}},
            {"from_name": "topics", "to_name": "text", "type": "choices", "value": {"choices": ["competitor"]}}]


def test_span_predictions_show_on_tasks_and_reviewed_spans_come_back(studio, records):
    with_spans = [r for r in records if r["predictions"]["competitors"]][:3]
    summary = push(studio, with_spans, "spans-test", show_progress=False)
    assert "<Labels" in studio.sdk.projects.get(id=summary.project_id).label_config
    tasks = sorted(_tasks(studio, summary.project_id), key=lambda t: t.id)
    by_id = {r["id"]: r for r in with_spans}
    for task in tasks:
        spans = [x["value"] for x in task.predictions[0].result if x["type"] == "labels"]
        expected = by_id[task.data["id"]]["predictions"]["competitors"]
        assert [(s["start"], s["end"]) for s in spans] == [(c["start"], c["end"]) for c in expected]
        assert all(task.data["text"][s["start"]:s["end"]] == s["text"] for s in spans)
    task = tasks[0]
    kept = next(x for x in task.predictions[0].result if x["type"] == "labels")  # the reviewer accepts one span
    studio.sdk.annotations.create(id=task.id, result=_annotation_result(task) + [kept])
    studio.sdk.annotations.create(id=tasks[1].id, result=_annotation_result(tasks[1]))  # and removes the others
    reviewed = {r["studio_task_id"]: r for r in pull(studio, "spans-test")}
    value = kept["value"]
    assert reviewed[task.id]["labels"]["mentions"] == [
        {"start": value["start"], "end": value["end"], "text": value["text"], "label": "COMPETITOR"}]
    assert reviewed[tasks[1].id]["labels"]["mentions"] == []
    assert reviewed[tasks[2].id]["labels"] is None  # not reviewed


def test_an_annotation_made_in_label_studio_reaches_the_backend_store(studio, studio_server, tiny_model, records, tmp_path):
    from toolkit.serve.backend import ModelBackend

    backend = ModelBackend(tiny_model, store=tmp_path / "store")
    with served(backend) as client:
        summary = push(studio, records[:2], "webhook-test", show_progress=False)
        args = ["studio", "connect", "--project", "webhook-test", "--backend", f"http://127.0.0.1:{client.port}",
                "--data-dir", str(studio_server.data_dir)]
        result = runner.invoke(app, args)
        assert result.exit_code == 0 and "(ml backend" in result.output, result.output  # Label Studio may add the webhook itself
        again = runner.invoke(app, args)
        assert again.exit_code == 0 and "nothing new" in again.output, again.output
        task = sorted(_tasks(studio, summary.project_id), key=lambda t: t.id)[0]
        annotation = studio.sdk.annotations.create(id=task.id, result=_annotation_result(task))
        studio.sdk.annotations.update(id=annotation.id, result=_annotation_result(task, "positive"))
        deadline = time.monotonic() + 60
        while backend.reviews.counts()["annotations"] < 1 or len(_stored(tmp_path)) < 2:
            assert time.monotonic() < deadline, f"no webhook reached the backend: {backend.reviews.counts()}"
            time.sleep(0.2)
        backend.wait_idle()
        [stored] = backend.reviews.tasks()
        assert stored["data"]["text"] == task.data["text"] and len(stored["annotations"]) == 1
        assert stored["annotations"][0]["result"][0]["value"]["choices"] == ["positive"]  # its last state


def _stored(tmp_path):
    path = tmp_path / "store" / "annotations.jsonl"
    return path.read_text(encoding="utf-8").splitlines() if path.is_file() else []


def test_rerank_rescores_unlabelled_tasks_and_sets_uncertainty_sampling(studio, studio_server, tiny_model, records):
    from toolkit.model import TextClassifier

    summary = push(studio, records[:12], "rerank-test", show_progress=False)
    tasks = sorted(_tasks(studio, summary.project_id), key=lambda t: t.id)
    studio.sdk.annotations.create(id=tasks[0].id, result=_annotation_result(tasks[0]))
    result = runner.invoke(app, ["studio", "rerank", "--project", "rerank-test", "--model", str(tiny_model),
                                 "--diversity", "4", "--data-dir", str(studio_server.data_dir)])
    assert result.exit_code == 0, result.output
    assert "11 unlabelled tasks re-scored" in result.output and "1 labelled" in result.output
    version = TextClassifier.load(tiny_model).model_version
    project = studio.sdk.projects.get(id=summary.project_id)
    assert project.sampling == "Uncertainty sampling" and project.model_version == version
    tasks = {t.id: t for t in _tasks(studio, summary.project_id)}
    ours = {tid: [p for p in t.predictions if p.model_version == version] for tid, t in tasks.items()}
    assert ours[min(tasks)] == []  # the labelled task is left alone
    scores = sorted(p[0].score for tid, p in ours.items() if tid != min(tasks))
    assert len(scores) == 11 and scores[0] == 0.0 and scores[-1] == 1.0  # the queue's places
    next_task = studio.get_json("next task", f"/api/projects/{summary.project_id}/next")
    head = min(((p[0].score, tid) for tid, p in ours.items() if p))[1]
    assert next_task["id"] == head  # Label Studio serves the head of our queue first


def test_train_from_studio_pulls_then_trains_in_one_step(studio, studio_server, records, tmp_path):
    summary = push(studio, records[:4], "train-from-studio", show_progress=False)
    for task in _tasks(studio, summary.project_id)[:2]:
        studio.sdk.annotations.create(id=task.id, result=_annotation_result(task))
    out = tmp_path / "model"
    result = runner.invoke(app, ["train", "--config", str(Path(__file__).parents[1] / "configs" / "tiny.yaml"), "--set", "epochs=1", "--out", str(out),
                                 "--from-studio", "train-from-studio", "--data-dir", str(studio_server.data_dir), "-q"])
    assert result.exit_code == 0, result.output
    assert "pulled 4 tasks of 'train-from-studio', 2 reviewed" in result.output
    pulled = list(read_records(out / "reviewed-from-studio.jsonl"))
    assert sum(r["labels"] is not None for r in pulled) == 2
    card = (out / "model-final" / "README.md").read_text(encoding="utf-8")
    assert "reviewed-from-studio.jsonl" in card  # the pulled file is part of the model's data lineage


def test_an_import_that_commits_then_fails_is_not_repeated(studio, records, monkeypatch):
    from label_studio_sdk.core.api_error import ApiError

    real = studio.sdk.projects.import_tasks
    calls = []

    def commits_then_502(**kwargs):
        calls.append(kwargs)
        response = real(**kwargs)
        if len(calls) == 2:  # the second batch reaches the database, then the gateway fails
            raise ApiError(status_code=502, body="bad gateway")
        return response

    monkeypatch.setattr(studio.sdk.projects, "import_tasks", commits_then_502)
    summary = push(studio, records[:25], "import-fault", batch_size=10, show_progress=False)
    assert all(c["request_options"] == {"max_retries": 0} for c in calls)  # the SDK must not retry it either
    assert len(calls) == 3  # three batches; the failed one was not sent again
    ids = [t.data["id"] for t in _tasks(studio, summary.project_id)]
    assert sorted(ids) == sorted(r["id"] for r in records[:25]) and summary.created == 25
    again = push(studio, records[:25], "import-fault", batch_size=10, show_progress=False)
    assert again.created == 0 and len(_tasks(studio, summary.project_id)) == 25
