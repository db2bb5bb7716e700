"""The ML backend through the web test client, with real label configs and tasks."""

import base64
import json

import pytest
from fastapi.testclient import TestClient

from toolkit.labels import label_config_xml, load_schema
from toolkit.serve.app import create_app
from toolkit.serve.backend import ModelBackend

CONFIG = label_config_xml(load_schema(), with_mentions=True)
RENAMED = """<View><Text name="body" value="$content"/>
<Choices name="tone" toName="body"><Choice value="positive"/><Choice value="neutral"/><Choice value="negative"/></Choices>
</View>"""
TASKS = [{"id": 1, "data": {"text": "華為問界銷量大增,小米面臨壓力。"}}, {"id": 2, "data": {"text": "小米汽车交付创新高。"}}]


@pytest.fixture
def backend(tiny_model, tmp_path):
    return ModelBackend(tiny_model, store=tmp_path / "store")


@pytest.fixture
def client(backend):
    return TestClient(create_app(backend, max_bytes=20_000))


def test_health_and_setup(client, backend):
    assert client.get("/health").json()["status"] == "UP"
    response = client.post("/setup", json={"project": "1.1", "schema": CONFIG, "hostname": "http://x", "access_token": "t"})
    assert response.status_code == 200
    assert response.json() == {"model_version": backend.model.model_version}


def test_predict_returns_one_result_per_task_in_order(client, backend):
    response = client.post("/predict", json={"tasks": TASKS, "label_config": CONFIG, "project": "1.1", "params": {}})
    assert response.status_code == 200
    results = response.json()["results"]
    assert len(results) == 2
    for result in results:
        assert result["model_version"] == backend.model.model_version and 0 < result["score"] <= 1
        names = {r["from_name"] for r in result["result"]}
        assert {"sentiment", "stance"} <= names
        assert all(r["to_name"] == "text" for r in result["result"])
    spans = [r for r in results[0]["result"] if r["type"] == "labels"]
    assert [s["value"]["text"] for s in spans] == ["華為", "問界"]
    assert all(s["value"]["labels"] == ["COMPETITOR"] for s in spans)


def test_a_rule_prior_model_marks_mentions_with_its_own_rules(prior_model, tmp_path):
    client = TestClient(create_app(ModelBackend(prior_model, store=tmp_path / "store")))
    tasks = [{"id": 1, "data": {"text": "米家空调销量大增。"}}]
    results = client.post("/predict", json={"tasks": tasks, "label_config": CONFIG}).json()["results"]
    assert [r["value"]["text"] for r in results[0]["result"] if r["type"] == "labels"] == ["米家"]


def test_control_names_come_from_the_projects_config(client):
    tasks = [{"id": 1, "data": {"content": "小米汽车交付创新高。"}}]
    results = client.post("/predict", json={"tasks": tasks, "label_config": RENAMED}).json()["results"]
    assert [(r["from_name"], r["to_name"]) for r in results[0]["result"]] == [("tone", "body")]


@pytest.mark.parametrize(
    ("payload", "status", "reason"),
    [
        ({"tasks": TASKS}, 422, "label_config"),
        ({"tasks": "no", "label_config": CONFIG}, 422, "tasks"),
        ({"tasks": TASKS, "label_config": "<View"}, 400, "not valid XML"),
        ({"tasks": [{"id": 9, "data": {"title": "x"}}], "label_config": CONFIG}, 400, "no text in data.text"),
        ({"tasks": TASKS, "label_config": "<View><Text name='t' value='$text'/></View>"}, 400, "no Choices or Labels"),
    ],
)
def test_malformed_requests_get_a_4xx_with_a_reason(client, payload, status, reason):
    response = client.post("/predict", json=payload)
    assert response.status_code == status
    assert reason in json.dumps(response.json())


def test_oversized_request_is_refused(client):
    tasks = [{"id": i, "data": {"text": "小米" * 200}} for i in range(100)]
    response = client.post("/predict", json={"tasks": tasks, "label_config": CONFIG})
    assert response.status_code == 413


def test_webhook_answers_at_once_and_stores_in_the_background(client, backend, tmp_path):
    event = {"action": "ANNOTATION_CREATED", "annotation": {"id": 5, "result": []}, "task": {"id": 1, "data": {"text": "x"}}}
    assert client.post("/webhook", json=event).status_code == 201
    assert client.post("/webhook", json={"action": "START_TRAINING", "project": {"id": 1}}).json()["status"] == "queued"
    assert client.post("/webhook", json={"action": "PROJECT_UPDATED"}).json()["status"] == "ignored"
    backend.wait_idle()
    stored = [json.loads(line) for line in (tmp_path / "store" / "annotations.jsonl").read_text().splitlines()]
    assert stored[0]["data"]["annotation"]["id"] == 5
    assert [s["event"] for s in stored] == ["ANNOTATION_CREATED", "START_TRAINING"]  # no retrain config: only kept


def test_basic_auth(backend):
    client = TestClient(create_app(backend, username="ls", password="s3cret"))
    assert client.post("/predict", json={"tasks": TASKS, "label_config": CONFIG}).status_code == 401
    token = base64.b64encode(b"ls:s3cret").decode()
    ok = client.post("/predict", json={"tasks": TASKS, "label_config": CONFIG}, headers={"Authorization": f"Basic {token}"})
    assert ok.status_code == 200
    assert client.get("/health").status_code == 200


def test_a_chunked_body_over_the_limit_is_refused_as_it_streams(backend):
    from conftest import served

    body = json.dumps({"tasks": [{"id": i, "data": {"text": "小米" * 200}} for i in range(100)],
                       "label_config": CONFIG}).encode()
    def chunks(data):  # a generator body: httpx sends it with Transfer-Encoding: chunked, no Content-Length
        for start in range(0, len(data), 4096):
            yield data[start:start + 4096]

    with served(backend, max_bytes=20_000) as client:
        headers = {"Content-Type": "application/json"}
        response = client.post("/predict", content=chunks(body), headers=headers)
        assert response.status_code == 413 and "over 20000 bytes" in response.json()["detail"]
        small = json.dumps({"tasks": TASKS, "label_config": CONFIG}).encode()
        ok = client.post("/predict", content=chunks(small), headers=headers)
        assert ok.status_code == 200 and len(ok.json()["results"]) == 2  # chunked and within the limit: served


def test_with_basic_auth_the_docs_and_schema_are_off(backend):
    open_client = TestClient(create_app(backend))
    assert open_client.get("/docs").status_code == 200 and open_client.get("/openapi.json").status_code == 200
    closed = TestClient(create_app(backend, username="ls", password="s3cret"))
    for path in ("/docs", "/redoc", "/openapi.json"):
        assert closed.get(path).status_code == 404, path
