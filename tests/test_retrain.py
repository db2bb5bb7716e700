"""Retraining from review: the store's reduction of annotation events, and a served tiny model that
retrains after webhook events over real HTTP."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest
import yaml
from conftest import served

from toolkit.labels import label_config_xml, load_schema
from toolkit.serve.backend import ModelBackend
from toolkit.serve.store import ReviewStore

ROOT = Path(__file__).resolve().parents[1]
CONFIG = label_config_xml(load_schema(), with_mentions=True)
TEXTS = ["小米汽车交付量创新高,股价大涨。", "华为问界销量下滑,面临压力。", "小米发布新款手机。"]


def _result(sentiment: str, stance: str, topics: list[str]) -> list[dict]:
    return [{"from_name": "sentiment", "to_name": "text", "type": "choices", "value": {"choices": [sentiment]}},
            {"from_name": "stance", "to_name": "text", "type": "choices", "value": {"choices": [stance]}},
            {"from_name": "topics", "to_name": "text", "type": "choices", "value": {"choices": topics}}]


def _event(action: str, annotation_id: int, task_id: int, sentiment: str = "positive") -> dict:
    task = {"id": task_id, "data": {"text": TEXTS[task_id % len(TEXTS)], "article_id": "a1", "index": task_id}}
    annotation = {"id": annotation_id, "task": task_id, "completed_by": 1,
                  "result": _result(sentiment, "bullish" if sentiment == "positive" else "risk", ["ev"])}
    return {"action": action, "annotation": annotation, "task": task, "project": {"id": 1}}


def test_updated_and_deleted_annotations_count_once_in_their_last_state(tmp_path):
    store = ReviewStore(tmp_path)
    store.add("ANNOTATION_CREATED", _event("ANNOTATION_CREATED", 1, 10), 0)
    store.add("ANNOTATION_UPDATED", _event("ANNOTATION_UPDATED", 1, 10, "negative"), 1)
    store.add("ANNOTATION_UPDATED", _event("ANNOTATION_UPDATED", 1, 10, "neutral"), 2)
    store.add("ANNOTATION_CREATED", _event("ANNOTATION_CREATED", 2, 11), 3)
    store.add("ANNOTATION_CREATED", _event("ANNOTATION_CREATED", 3, 12), 4)
    store.add("ANNOTATIONS_DELETED", {"action": "ANNOTATIONS_DELETED", "annotations": [{"id": 3}]}, 5)
    assert store.pending == {1, 2, 3}  # three annotations changed, whatever the number of events
    tasks = store.tasks()
    assert [t["id"] for t in tasks] == [10, 11]  # the deleted annotation's task has no annotation left
    assert tasks[0]["annotations"][0]["result"][0]["value"]["choices"] == ["neutral"]  # the last update
    assert store.counts() == {"annotations": 2, "tasks": 2, "pending": 3}

    taken = store.take_pending()
    assert taken == {1, 2, 3} and not store.pending
    store.add("ANNOTATION_UPDATED", _event("ANNOTATION_UPDATED", 2, 11, "negative"), 6)
    replayed = ReviewStore(tmp_path)  # a restart rebuilds the same state from the log
    assert replayed.tasks() == store.tasks() and replayed.pending == {2}
    replayed.restore_pending(taken)
    assert ReviewStore(tmp_path).pending == {1, 2, 3}


def test_a_malformed_event_is_skipped_and_the_store_keeps_going(tmp_path, tiny_model):
    backend = ModelBackend(tiny_model, store=tmp_path / "store")
    backend.fit("ANNOTATION_CREATED", {"action": "ANNOTATION_CREATED", "annotation": {"result": []}})
    backend.fit("ANNOTATION_CREATED", _event("ANNOTATION_CREATED", 1, 10))
    backend.wait_idle()
    assert backend.reviews.counts()["annotations"] == 1


@pytest.fixture
def retrain_config(tmp_path):
    config = yaml.safe_load((ROOT / "configs" / "tiny.yaml").read_text(encoding="utf-8"))
    config["epochs"] = 1
    config["data"] = {"train": [{"format": "reviewed", "path": str(ROOT / "examples" / "reviewed.jsonl")}]}
    path = tmp_path / "retrain.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def _wait(client: httpx.Client, predicate, timeout: float = 300) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        health = client.get("/health").json()
        if predicate(health):
            return health
        time.sleep(0.2)
    raise AssertionError(f"timed out; last /health: {health}")


def test_served_model_retrains_after_n_webhook_events_and_swaps_in(tiny_model, retrain_config, tmp_path):
    backend = ModelBackend(tiny_model, store=tmp_path / "store", retrain_config=retrain_config, retrain_every=3)
    gate = threading.Event()
    swap = backend.retrainer.on_trained
    backend.retrainer.on_trained = lambda folder: (gate.wait(120), swap(folder))  # hold the swap to look mid-retrain
    with served(backend) as client:
        old = client.get("/health").json()["model_version"]
        for annotation_id in (1, 2):
            assert client.post("/webhook", json=_event("ANNOTATION_CREATED", annotation_id, annotation_id)).status_code == 201
        client.post("/webhook", json=_event("ANNOTATION_UPDATED", 2, 2, "negative"))
        time.sleep(0.5)
        assert client.get("/health").json()["retrain"]["state"] == "idle"  # two annotations, three events: not yet
        client.post("/webhook", json=_event("ANNOTATION_CREATED", 3, 3, "negative"))
        running = _wait(client, lambda h: h["retrain"]["state"] == "running")
        assert running["model_version"] == old and running["retrain"]["pending"] == 0
        answer = client.post("/predict", json={"tasks": [{"id": 9, "data": {"text": TEXTS[0]}}], "label_config": CONFIG})
        assert answer.status_code == 200 and answer.json()["results"][0]["model_version"] == old
        gate.set()
        done = _wait(client, lambda h: h["retrain"]["state"] != "running")
        assert done["retrain"]["state"] == "idle" and done["retrain"]["retrains"] == 1, done
        assert done["model_version"] != old and done["retrain"]["last_version"] == "v001"
        answer = client.post("/predict", json={"tasks": [{"id": 9, "data": {"text": TEXTS[0]}}], "label_config": CONFIG})
        assert answer.json()["results"][0]["model_version"] == done["model_version"]
    version = tmp_path / "store" / "models" / "v001"
    reviewed = (version / "reviewed.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(reviewed) == 3 and (version / "model-final" / "toolkit_model.json").is_file()


def test_a_failing_retrain_keeps_the_old_model_and_says_why(tiny_model, retrain_config, tmp_path):
    config = yaml.safe_load(retrain_config.read_text(encoding="utf-8"))
    config["data"]["train"][0]["path"] = str(tmp_path / "missing.jsonl")
    retrain_config.write_text(yaml.safe_dump(config), encoding="utf-8")
    backend = ModelBackend(tiny_model, store=tmp_path / "store", retrain_config=retrain_config, retrain_every=1)
    with served(backend) as client:
        old = client.get("/health").json()["model_version"]
        client.post("/webhook", json=_event("ANNOTATION_CREATED", 1, 1))
        failed = _wait(client, lambda h: h["retrain"]["state"] == "failed")
        assert "missing.jsonl" in failed["retrain"]["last_error"] and failed["model_version"] == old
        assert failed["retrain"]["pending"] == 1  # the snapshot is back for the next try
        assert client.post("/train", json={}).status_code == 201  # "Start training" retries at once
        again = _wait(client, lambda h: h["retrain"]["last_finished"] != failed["retrain"]["last_finished"])
        assert again["retrain"]["state"] == "failed" and again["model_version"] == old
        answer = client.post("/predict", json={"tasks": [{"id": 9, "data": {"text": TEXTS[0]}}], "label_config": CONFIG})
        assert answer.status_code == 200 and answer.json()["results"][0]["model_version"] == old
