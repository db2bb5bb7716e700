import json

import pytest
from typer.testing import CliRunner

from toolkit.cli import app
from toolkit.evaluate.metrics import multi_label_report, single_label_report
from toolkit.evaluate.predictions import evaluate_predictions
from toolkit.io import write_records
from toolkit.labels import load_schema
from toolkit.studio.export import read_export, read_reviewed

runner = CliRunner()


def test_single_label_report_hand_computed():
    report = single_label_report(["a", "a", "b", "c"], ["a", "b", "b", "c"], labels=["a", "b", "c"])
    assert report["accuracy"] == 0.75
    assert report["per_class"]["a"] == {"precision": 1.0, "recall": 0.5, "f1": pytest.approx(2 / 3), "support": 2}
    assert report["per_class"]["b"]["precision"] == 0.5
    assert report["macro_f1"] == pytest.approx((2 / 3 + 2 / 3 + 1) / 3)
    # a label absent from truth and predictions (neutral on a two-class benchmark) is listed, not averaged
    binary = single_label_report(["pos", "neg", "neg"], ["pos", "neg", "pos"], labels=["pos", "neu", "neg"])
    assert binary["macro_f1"] == pytest.approx((2 / 3 + 2 / 3) / 2)
    assert binary["per_class"]["neu"]["support"] == 0
    # a wrongly predicted label that no example has does count
    wrong = single_label_report(["pos", "neg"], ["pos", "neu"], labels=["pos", "neu", "neg"])
    assert wrong["macro_f1"] == pytest.approx(1 / 3)


def test_multi_label_report_hand_computed():
    report = multi_label_report([["x"], ["x", "y"], []], [["x"], ["y"], ["y"]], labels=["x", "y"])
    # x: tp 1 fn 1 fp 0; y: tp 1 fn 0 fp 1 -> micro P = 2/3, R = 2/3
    assert report["micro_f1"] == pytest.approx(2 / 3)
    assert report["per_label"]["x"]["recall"] == 0.5
    assert report["exact_match"] == pytest.approx(1 / 3)
    # z: no example, no prediction -> not averaged; w: predicted but absent -> F1 0, averaged
    report = multi_label_report([["x"], ["x", "y"], []], [["x"], ["y"], ["y"]], labels=["x", "y", "z"])
    assert report["macro_f1"] == pytest.approx((2 / 3 + 2 / 3) / 2)
    report = multi_label_report([["x"], ["x", "y"], []], [["x"], ["y"], ["y", "w"]], labels=["x", "y", "w"])
    assert report["macro_f1"] == pytest.approx((2 / 3 + 2 / 3 + 0) / 3)


def _export(tmp_path, annotations):
    tasks = [
        {"id": i + 1, "data": {"text": text, "article_id": "a", "sentence_index": i},
         "annotations": anns}
        for i, (text, anns) in enumerate(annotations)
    ]
    path = tmp_path / "export.json"
    path.write_text(json.dumps(tasks, ensure_ascii=False), encoding="utf-8")
    return path


def _ann(sentiment, stance, topics, cancelled=False, user=2):
    result = [
        {"from_name": "sentiment", "to_name": "text", "type": "choices", "value": {"choices": [sentiment]}},
        {"from_name": "stance", "to_name": "text", "type": "choices", "value": {"choices": [stance]}},
        {"from_name": "topics", "to_name": "text", "type": "choices", "value": {"choices": topics}},
    ]
    return {"completed_by": user, "was_cancelled": cancelled, "result": [] if cancelled else result}


def test_export_gold_uses_agreement_and_skips_cancelled(tmp_path):
    path = _export(tmp_path, [
        ("小米交付创新高。", [_ann("positive", "bullish", ["ev"]), _ann("positive", "bullish", ["ev"], user=3)]),
        ("华为销量增长。", [_ann("positive", "risk", ["competitor"]), _ann("neutral", "risk", ["competitor"], user=3)]),
        ("小米发布财报。", [_ann("neutral", "neutral", ["finance"]), _ann("", "", [], cancelled=True, user=3)]),
    ])
    records = read_export(path)
    assert {k: records[0]["labels"][k] for k in ("sentiment", "stance", "topics")} == {
        "sentiment": "positive", "stance": "bullish", "topics": ["ev"]}
    assert records[0]["labels"]["resolution"] == dict.fromkeys(("sentiment", "stance", "topics"), "unanimous")
    assert records[1]["labels"]["needs_adjudication"] == ["sentiment"] and records[1]["labels"]["stance"] == "risk"
    assert len(records[2]["annotations"]) == 1


def test_unknown_label_is_a_clear_error(tmp_path):
    path = _export(tmp_path, [("句子。", [_ann("great", "bullish", [])])])
    with pytest.raises(Exception, match="unknown sentiment label"):
        read_export(path)


def test_evaluate_command_on_predictions(tmp_path):
    gold_path = _export(tmp_path, [
        ("小米交付创新高。", [_ann("positive", "bullish", ["ev"])]),
        ("小米发布财报。", [_ann("neutral", "neutral", ["finance"])]),
    ])
    gold = read_reviewed(gold_path)
    preds = [dict(g, predictions={
        "sentiment": {"label": "positive"}, "stance": {"label": "bullish"},
        "topics": {"labels": ["ev"]}, "competitors": []}) for g in gold]
    write_records(tmp_path / "p.jsonl", preds)
    report = evaluate_predictions(preds, gold, load_schema())
    ev = report["topics"]["per_label"]["ev"]
    assert report["sentiment"]["accuracy"] == 0.5 and (ev["precision"], ev["recall"]) == (0.5, 1.0)
    result = runner.invoke(app, ["evaluate", "--predictions", str(tmp_path / "p.jsonl"), "--gold", str(gold_path),
                                 "--out", str(tmp_path / "m.json")])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "m.json").read_text())["stance"]["n"] == 2


def test_rules_reach_the_goals_on_the_reviewed_export(shared, tmp_path):
    """The figures BENCHMARKS.md records: sentiment >= 0.70, stance >= 0.65, topics micro >= 0.80."""
    from toolkit.annotate import RulePreannotator
    from toolkit.ingest import ingest
    from toolkit.io import read_records

    ingest([shared / "corpus"], tmp_path / "s.jsonl", show_progress=False)
    preds = list(RulePreannotator().annotate(read_records(tmp_path / "s.jsonl")))
    report = evaluate_predictions(preds, read_reviewed(shared / "annotations" / "round1-export.json"))
    assert report["sentiment"]["macro_f1"] >= 0.70
    assert report["stance"]["macro_f1"] >= 0.65
    assert report["topics"]["micro_f1"] >= 0.80


def test_a_rule_prior_model_is_compared_with_its_own_rules(prior_model, tmp_path):
    from toolkit.evaluate.report import evaluate_model

    data = tmp_path / "gold.jsonl"
    write_records(data, [{"id": "g1", "text": "米家空调销量大增。", "topics": ["competitor", "iot"],
                          "sentiment": "positive", "stance": "bullish"}])
    report = evaluate_model(prior_model, data, tmp_path / "report")
    assert report["rule_prior"].startswith("rules-")
    # 米家 is a competitor only in the model's saved rules, so only those find the competitor topic
    assert report["systems"]["rules"]["topics"]["per_label"]["competitor"]["recall"] == 1.0
    assert "the rules column is the same rules alone" in (tmp_path / "report" / "report.md").read_text(encoding="utf-8")


def _span(start, end, text):
    return {"from_name": "mentions", "to_name": "text", "type": "labels",
            "value": {"start": start, "end": end, "text": text, "labels": ["COMPETITOR"]}}


def test_span_report_hand_computed():
    from toolkit.evaluate.metrics import span_report

    report = span_report([[(0, 2), (5, 7)], [], [(1, 3)]], [[(0, 2)], [(4, 6)], [(1, 4)]])
    assert (report["spans"], report["predicted"], report["correct"]) == (3, 3, 1)
    assert report["precision"] == pytest.approx(1 / 3) and report["recall"] == pytest.approx(1 / 3)


def test_reviewed_spans_come_back_voted_and_are_scored(tiny_model, tmp_path):
    from toolkit.evaluate.report import evaluate_model

    text = "华为和问界都在涨价。"
    first = _ann("neutral", "neutral", ["competitor"], user=2)
    second = _ann("neutral", "neutral", ["competitor"], user=3)
    first["result"] += [_span(0, 2, "华为"), _span(3, 5, "问界")]
    second["result"] += [_span(0, 2, "华为")]
    third = _ann("neutral", "neutral", ["competitor"], user=4)
    third["result"] += [_span(0, 2, "华为")]
    plain = _ann("neutral", "neutral", [], user=2)
    tie = read_export(_export(tmp_path, [(text, [first, second])]))[0]["labels"]
    assert "mentions" not in tie and "mentions" in tie["needs_adjudication"]  # 问界: one of two, voted per span
    path = _export(tmp_path, [(text, [first, second, third]), ("小米发布新品。", [plain])])
    records = read_export(path)
    assert records[0]["annotations"][0]["mentions"] == [
        {"start": 0, "end": 2, "text": "华为", "label": "COMPETITOR"},
        {"start": 3, "end": 5, "text": "问界", "label": "COMPETITOR"}]
    assert records[0]["labels"]["mentions"] == [{"start": 0, "end": 2, "text": "华为", "label": "COMPETITOR"}]
    assert records[1]["labels"]["mentions"] == []  # the file has a span control: no span means none
    reviewed = tmp_path / "reviewed.jsonl"
    write_records(reviewed, records)
    report = evaluate_model(tiny_model, reviewed, tmp_path / "report")
    assert report["mentions"]["spans"] == 1 and report["mentions"]["n"] == 2
    assert report["mentions"]["recall"] == 1.0 and report["mentions"]["precision"] == 0.5  # the rules mark 问界 too
    assert "Competitor spans" in (tmp_path / "report" / "report.md").read_text(encoding="utf-8")

    no_spans = read_export(_export(tmp_path, [("小米发布新品。", [plain])]))
    assert "mentions" not in no_spans[0]["labels"]  # no span control: no reviewed "none" is made up
