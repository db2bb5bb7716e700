"""Records of random shapes reach the commands that read records; none may fail with anything but the
toolkit's own errors (a clear message and exit code 1), never a traceback (issue 26)."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from toolkit.cli import app
from toolkit.io import read_records, write_records

runner = CliRunner()
KEYS = ["id", "text", "article_id", "index", "labels", "annotations", "predictions", "start", "sentiment", "data", "result"]
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=30),
                    st.sampled_from(["小米汽车交付创新高。", "positive", "risk", "ev", "\ud800", "華為"]),
                    st.just("长" * 20_000))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(st.sampled_from(KEYS), inner, max_size=4)),
                      max_leaves=8)
records = st.lists(st.dictionaries(st.sampled_from(KEYS), values, max_size=6), min_size=1, max_size=4)
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _jsonl(path, rows):
    """JSON lines as a scraper might write them; a lone surrogate escape is invalid JSON for the reader."""
    path.write_text("".join(json.dumps(r, ensure_ascii=True) + "\n" for r in rows), encoding="utf-8")
    return path


def _ok(result) -> None:
    assert result.exit_code in (0, 1), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output


@SETTINGS
@given(rows=records)
def test_preannotate_takes_any_records(tmp_path_factory, rows):
    tmp = tmp_path_factory.mktemp("pre")
    result = runner.invoke(app, ["preannotate", str(_jsonl(tmp / "in.jsonl", rows)), "--out", str(tmp / "out.jsonl"), "-q"])
    _ok(result)
    good = [r for r in rows if isinstance(r.get("text"), str) and "\ud800" not in json.dumps(r, ensure_ascii=False)]
    if result.exit_code == 0:
        assert len(list(read_records(tmp / "out.jsonl"))) == len(good)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=records)
def test_predict_takes_any_sentence_records(tmp_path_factory, tiny_model, rows):
    tmp = tmp_path_factory.mktemp("predict")
    rows = [{**r, "text_norm": "x"} for r in rows]  # marks the file as sentence records, not articles
    result = runner.invoke(app, ["predict", str(_jsonl(tmp / "in.jsonl", rows)), "--model", str(tiny_model),
                                 "--out", str(tmp / "out.jsonl"), "-q", "--device", "cpu"])
    _ok(result)


@SETTINGS
@given(tasks=st.lists(st.one_of(values, st.fixed_dictionaries(
    {"id": st.integers(), "data": values, "annotations": st.lists(values, max_size=2)})), min_size=1, max_size=4))
def test_import_export_takes_any_export(tmp_path_factory, tasks):
    tmp = tmp_path_factory.mktemp("export")
    path = tmp / "export.json"
    path.write_text(json.dumps(tasks, ensure_ascii=False), encoding="utf-8", errors="surrogatepass")
    _ok(runner.invoke(app, ["studio", "import-export", str(path), "--out", str(tmp / "reviewed.jsonl")]))


@SETTINGS
@given(rows=records)
def test_dataset_build_takes_any_reviewed_records(tmp_path_factory, rows):
    tmp = tmp_path_factory.mktemp("dataset")
    _ok(runner.invoke(app, ["dataset", "build", str(_jsonl(tmp / "reviewed.jsonl", rows)), "--out", str(tmp / "ds")]))


def test_records_without_a_string_text_are_skipped_and_listed(tmp_path, tiny_model):
    rows = [{"id": "a", "text": "小米汽车交付创新高。"}, {"id": "b"}, {"id": "c", "text": None}, {"id": "d", "text": 3},
            {"id": "e", "text": "华为手机销量下滑。"}]
    path = _jsonl(tmp_path / "in.jsonl", rows)
    result = runner.invoke(app, ["preannotate", str(path), "--out", str(tmp_path / "pre.jsonl"), "-q"])
    assert result.exit_code == 0, result.output
    assert [r["id"] for r in read_records(tmp_path / "pre.jsonl")] == ["a", "e"]
    assert f"{path}:2: no 'text'" in result.output and f"{path}:3: 'text' is null, not a string" in result.output
    assert f"{path}:4: 'text' is a int, not a string" in result.output and "(3 records skipped)" in result.output

    sentences = tmp_path / "sentences.jsonl"
    write_records(sentences, [{**r, "text_norm": "x"} for r in rows] + [{"text": "没有编号的句子。", "text_norm": "x"}])
    result = runner.invoke(app, ["predict", str(sentences), "--model", str(tiny_model), "--out", str(tmp_path / "p.jsonl"),
                                 "-q", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert [r["id"] for r in read_records(tmp_path / "p.jsonl")] == ["a", "e"]
    assert f"{sentences}:2: no 'text'" in result.output and f"{sentences}:6: no 'id'" in result.output


def test_an_export_task_without_data_is_a_clear_error(tmp_path):
    path = tmp_path / "export.json"
    path.write_text(json.dumps([{"id": 7, "annotations": []}]), encoding="utf-8")
    result = runner.invoke(app, ["studio", "import-export", str(path), "--out", str(tmp_path / "r.jsonl")])
    assert result.exit_code == 1 and "task 7 is not a Label Studio task (no 'data' object)" in result.output
