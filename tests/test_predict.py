import json

import numpy as np
import pytest
from typer.testing import CliRunner

from toolkit.cli import app
from toolkit.errors import InputError
from toolkit.ingest import ingest
from toolkit.io import read_records, write_records
from toolkit.predict.batch import predict_records
from toolkit.predict.run import run_predict
from toolkit.model import TextClassifier
from toolkit.model.classifier import batch_bounds

runner = CliRunner()


@pytest.fixture(scope="module")
def clf(tiny_model):
    return TextClassifier.load(tiny_model)


@pytest.fixture(scope="module")
def sentences(tmp_path_factory, examples):
    out = tmp_path_factory.mktemp("s") / "s.jsonl"
    ingest([examples], out, show_progress=False)
    return list(read_records(out))


def test_length_sorted_batches_match_plain_prediction_in_input_order(clf, sentences):
    texts = [s["text"] for s in sentences]
    sorted_ = clf.predict_proba(texts, batch_size=4)
    plain = clf.predict_proba(texts, batch_size=1)
    for task in sorted_:
        assert np.allclose(sorted_[task], plain[task], atol=1e-5)


def test_batches_keep_to_the_token_budget_and_the_count_cap():
    lengths = [5, 5, 5, 5, 40, 40, 200, 300, 10]
    bounds = batch_bounds(lengths, batch_size=3, batch_tokens=100)
    assert [end for _, end in bounds][-1] == len(lengths)
    assert all(start < end for start, end in bounds) and all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))
    for start, end in bounds:
        padded = (end - start) * max(lengths[start:end])
        assert end - start <= 3 and (padded <= 100 or end - start == 1)
    assert bounds == [(0, 3), (3, 5), (5, 6), (6, 7), (7, 8), (8, 9)]
    assert batch_bounds(lengths, batch_size=64, batch_tokens=None) == [(0, 9)]


def test_token_budget_does_not_change_results(clf, sentences):
    texts = [s["text"] for s in sentences]
    budget = clf.predict_proba(texts, batch_size=64, batch_tokens=64)
    count = clf.predict_proba(texts, batch_size=64, batch_tokens=None)
    for task in budget:
        assert np.allclose(budget[task], count[task], atol=1e-5)


def test_window_size_does_not_change_results(clf, sentences):
    small = list(predict_records(clf, sentences, window=5, batch_size=3))
    large = list(predict_records(clf, sentences, window=1000))
    assert [r["id"] for r in small] == [s["id"] for s in sentences]
    assert [r["predictions"]["sentiment"]["label"] for r in small] == [r["predictions"]["sentiment"]["label"] for r in large]


def test_predict_articles_writes_sentences_and_article_summaries(tiny_model, examples, tmp_path, sentences):
    out = tmp_path / "p.jsonl"
    result = run_predict(tiny_model, [examples], out, show_progress=False)
    records = list(read_records(out))
    assert result["predicted"] == len(records) == len(sentences)
    assert [r["id"] for r in records] == [s["id"] for s in sentences]
    block = records[0]["predictions"]
    assert block["model_version"] == TextClassifier.load(tiny_model).model_version
    assert set(block["sentiment"]["scores"]) == {"positive", "neutral", "negative"}
    articles = {a["article_id"]: a for a in read_records(result["articles"])}
    assert set(articles) == {s["article_id"] for s in sentences}
    summary = articles["xiaomi-q3-results"]
    assert summary["units"] == 15 and sum(summary["sentiment"].values()) == pytest.approx(1.0)
    assert summary["net_stance"] == pytest.approx(summary["stance"].get("bullish", 0) - summary["stance"].get("risk", 0), abs=1e-3)
    assert "huawei" in summary["competitors"] and len(summary["top_risks"]) == 5
    risks = [t["risk"] for t in summary["top_risks"]]
    assert risks == sorted(risks, reverse=True)


def test_resume_skips_ids_already_predicted(tiny_model, tmp_path, sentences):
    part, full = tmp_path / "part.jsonl", tmp_path / "all.jsonl"
    write_records(part, sentences[:10])
    write_records(full, sentences)
    out = tmp_path / "p.jsonl"
    run_predict(tiny_model, [part], out, show_progress=False)
    result = run_predict(tiny_model, [full], out, resume=True, show_progress=False)
    assert (result["predicted"], result["skipped_existing"]) == (len(sentences) - 10, 10)
    ids = [r["id"] for r in read_records(out)]
    assert sorted(ids) == sorted(s["id"] for s in sentences)
    assert sum(a["units"] for a in read_records(result["articles"])) == len(sentences)


def test_csv_and_parquet_outputs(tiny_model, tmp_path, sentences):
    src = tmp_path / "s.jsonl"
    write_records(src, sentences)
    run_predict(tiny_model, [src], tmp_path / "p.parquet", show_progress=False)
    assert len(list(read_records(tmp_path / "p.parquet"))) == len(sentences)
    run_predict(tiny_model, [src], tmp_path / "p.csv", show_progress=False)
    lines = (tmp_path / "p.csv").read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(sentences) + 1 and "sentiment:positive" in lines[0]
    with pytest.raises(InputError, match="--resume appends to JSONL"):
        run_predict(tiny_model, [src], tmp_path / "p.csv", resume=True, show_progress=False)


def test_predict_command(tiny_model, examples, tmp_path):
    out = tmp_path / "p.jsonl"
    result = runner.invoke(app, ["predict", str(examples), "--model", str(tiny_model), "--out", str(out), "-q"])
    assert result.exit_code == 0, result.output
    assert "sentences predicted" in result.output
    assert json.loads(out.read_text(encoding="utf-8").splitlines()[0])["predictions"]


def test_onnx_export_predicts_like_torch(tiny_model, tmp_path, sentences):
    from toolkit.predict.onnx import OnnxClassifier, export_onnx

    texts = [s["text"] for s in sentences]
    torch_probs = TextClassifier.load(tiny_model).predict_proba(texts)
    onnx = OnnxClassifier.load(export_onnx(tiny_model, tmp_path / "onnx"))
    onnx_probs = onnx.predict_proba(texts)
    for task in torch_probs:
        assert np.allclose(torch_probs[task], onnx_probs[task], atol=1e-4)
    assert onnx.model_version.endswith("-onnx")
    int8 = OnnxClassifier.load(export_onnx(tiny_model, tmp_path / "int8", int8=True))
    assert int8.model_version.endswith("-onnx-int8")
    assert (tmp_path / "int8" / "model.onnx").stat().st_size < (tmp_path / "onnx" / "model.onnx").stat().st_size
    assert int8.predict_proba(texts)["sentiment"].shape == (len(texts), 3)


def test_onnx_export_of_a_rule_prior_model_feeds_the_prior(prior_model, tmp_path, sentences):
    from toolkit.predict.onnx import OnnxClassifier, export_onnx

    texts = [r["text"] for r in sentences]
    onnx = OnnxClassifier.load(export_onnx(prior_model, tmp_path / "onnx"))
    torch_probs, onnx_probs = TextClassifier.load(prior_model).predict_proba(texts), onnx.predict_proba(texts)
    for task in torch_probs:
        assert np.allclose(torch_probs[task], onnx_probs[task], atol=1e-4)


def test_a_rule_prior_model_finds_mentions_with_its_own_rules(prior_model, examples, tmp_path):
    out = tmp_path / "p.jsonl"
    result = runner.invoke(app, ["predict", str(examples), "--model", str(prior_model), "--out", str(out), "-q"])
    assert result.exit_code == 0, result.output
    surfaces = {m["surface"] for r in read_records(out) for m in r["predictions"]["competitors"]}
    assert "米家" in surfaces


def test_int8_keeps_the_feed_forward_output_projections_in_fp32(tiny_model, tmp_path):
    import onnx

    from toolkit.predict.onnx import after_activation, export_onnx

    fp32 = export_onnx(tiny_model, tmp_path / "fp32") / "model.onnx"
    kept = after_activation(str(fp32))
    layers = TextClassifier.load(tiny_model).model.encoder.config.num_hidden_layers
    assert len(kept) == layers and all("/output/dense/" in n and "attention" not in n for n in kept)
    graph = onnx.load(str(export_onnx(tiny_model, tmp_path / "int8", int8=True) / "model.onnx")).graph
    ops = {n.name: n.op_type for n in graph.node}
    assert all(ops[name] == "MatMul" for name in kept)  # left in fp32
    assert sum(op == "MatMulInteger" for op in ops.values()) >= 4 * layers  # q, k, v, attention output, FFN in


def test_export_check_reports_label_agreement(tiny_model, tmp_path, sentences):
    from toolkit.predict.onnx import OnnxClassifier, label_agreement

    check = tmp_path / "check.jsonl"
    write_records(check, sentences)
    out = tmp_path / "int8"
    result = runner.invoke(app, ["export-onnx", "--model", str(tiny_model), "--out", str(out), "--int8",
                                 "--check", str(check)])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "agreement.json").read_text(encoding="utf-8"))
    expected = label_agreement(TextClassifier.load(tiny_model), OnnxClassifier.load(out), [s["text"] for s in sentences])
    assert report["texts"] == len(sentences) and {k: report[k] for k in expected} == expected
    assert f"sentiment: {100 * expected['sentiment']:.2f} %" in result.output
    assert set(expected) == {"sentiment", "stance", "topics", "topics_sets"}
    assert expected["topics_sets"] <= expected["topics"]  # a set agrees only when all its decisions do
    # a model compared with itself agrees everywhere; a file without text is one clear error
    model = TextClassifier.load(tiny_model)
    assert set(label_agreement(model, model, [s["text"] for s in sentences]).values()) == {1.0}
    write_records(check, [{"id": "x"}])
    result = runner.invoke(app, ["export-onnx", "--model", str(tiny_model), "--out", str(out), "--check", str(check)])
    assert result.exit_code == 1 and "record 1 has no 'text'" in result.output


def test_predict_with_the_onnx_backend(tiny_model, tmp_path, examples):
    export = tmp_path / "onnx"
    assert runner.invoke(app, ["export-onnx", "--model", str(tiny_model), "--out", str(export)]).exit_code == 0
    out = tmp_path / "p.jsonl"
    result = runner.invoke(app, ["predict", str(examples), "--model", str(export), "--backend", "onnx", "--out", str(out), "-q"])
    assert result.exit_code == 0, result.output
    assert all(r["predictions"]["model_version"].endswith("-onnx") for r in read_records(out))
    result = runner.invoke(app, ["predict", str(examples), "--model", str(tiny_model), "--backend", "onnx", "--out", str(out)])
    assert result.exit_code == 1 and "not an ONNX export" in result.output


def test_an_output_that_is_also_an_input_is_refused_before_the_model_loads(tmp_path, sentences):
    records = tmp_path / "records.jsonl"
    write_records(records, sentences)
    before = records.read_bytes()
    for resume in (False, True):  # appending to the file being read would never end
        with pytest.raises(InputError, match="records.jsonl: output would overwrite this input"):
            run_predict(tmp_path / "no-model", [records], records, resume=resume, show_progress=False)
    assert records.read_bytes() == before


def test_resume_keeps_the_work_of_a_stopped_first_run_and_drops_a_torn_line(tiny_model, tmp_path, sentences, monkeypatch):
    import orjson

    import toolkit.predict.run as run_module

    src = tmp_path / "s.jsonl"
    write_records(src, sentences)
    fresh = tmp_path / "fresh.jsonl"
    run_predict(tiny_model, [src], fresh, show_progress=False, window=8)
    real = run_module.predict_records

    def stopped_after_20(*args, **kwargs):
        for n, record in enumerate(real(*args, **kwargs)):
            if n == 20:
                raise KeyboardInterrupt
            yield record

    monkeypatch.setattr(run_module, "predict_records", stopped_after_20)
    out = tmp_path / "p.jsonl"
    with pytest.raises(KeyboardInterrupt):
        run_predict(tiny_model, [src], out, show_progress=False, window=8)
    partial = out.with_name("p.jsonl.tmp")
    assert not out.exists() and len(partial.read_bytes().splitlines()) >= 8  # the stopped run's work is on disk
    with partial.open("ab") as fh:
        fh.write(b'{"id": "torn", "text": "cut sh')  # killed mid-write
    kept = len(partial.read_bytes().splitlines()) - 1
    monkeypatch.setattr(run_module, "predict_records", real)
    result = run_predict(tiny_model, [src], out, resume=True, show_progress=False, window=8)
    assert result["skipped_existing"] == kept and result["predicted"] == len(sentences) - kept
    lines = out.read_bytes().splitlines()
    ids = [orjson.loads(line)["id"] for line in lines]
    assert sorted(ids) == sorted(s["id"] for s in sentences)  # every sentence exactly once, the torn line gone
    assert all(line == orjson.dumps(orjson.loads(line)) for line in lines)  # appended lines as a fresh run writes them
    assert {line.split(b'"predictions"')[0] for line in lines} == {
        line.split(b'"predictions"')[0] for line in fresh.read_bytes().splitlines()}


def test_parquet_is_written_in_row_groups_in_bounded_memory(tmp_path):
    import pyarrow.parquet as pq

    from toolkit.io import ROW_GROUP, RecordWriter

    path = tmp_path / "big.parquet"
    held = []
    with RecordWriter(path) as writer:
        for i in range(2 * ROW_GROUP + 10):
            record = {"id": f"s{i}", "text": "小米" * 5, "predictions": {"sentiment": {"label": "neutral"}}}
            if i == 2 * ROW_GROUP + 5:  # a field only a late record has
                record["duplicate_of"] = "s0"
            writer.write(record)
            held.append(len(writer._pending))
    assert max(held) <= ROW_GROUP  # never more than one row group in memory
    assert pq.ParquetFile(path).num_row_groups == 3 and not list(tmp_path.glob("*.spool.jsonl"))
    back = list(read_records(path))
    assert len(back) == 2 * ROW_GROUP + 10 and back[2 * ROW_GROUP + 5]["duplicate_of"] == "s0"
    assert back[0]["duplicate_of"] is None
