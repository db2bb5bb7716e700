"""Adjudication and agreement against hand-computed values."""

import math

import pytest

from toolkit.labels import load_schema
from toolkit.studio.adjudicate import resolve
from toolkit.studio.agreement import (
    agreement_report,
    fleiss_kappa,
    krippendorff_alpha,
    pairwise_cohen,
    percent_agreement,
)

UNITS = [["a", "a"], ["a", "b"], ["b", "b"]]


def test_percent_agreement():
    assert percent_agreement(UNITS) == pytest.approx(2 / 3)
    assert percent_agreement([["a"]]) != percent_agreement([["a"]])  # nan: no unit has two values


def test_fleiss_kappa_hand_computed():
    # P_i = 1, 0, 1 -> P̄ = 2/3; p_a = p_b = 1/2 -> P_e = 1/2; κ = (2/3 − 1/2) / (1/2) = 1/3
    assert fleiss_kappa(UNITS) == pytest.approx(1 / 3)


def test_krippendorff_alpha_hand_computed():
    # o_aa = 2, o_ab = o_ba = 1, o_bb = 2; n_a = n_b = 3, n = 6;
    # α = 1 − (n − 1) · 2 / (2 · 3 · 3) = 1 − 10/18 = 4/9
    assert krippendorff_alpha(UNITS) == pytest.approx(4 / 9)
    # a unit with a single value adds nothing
    assert krippendorff_alpha(UNITS + [["c"]]) == pytest.approx(4 / 9)


def test_cohen_kappa_hand_computed():
    ratings = [{1: "a", 2: "a"}, {1: "a", 2: "b"}, {1: "b", 2: "b"}, {1: "c"}]
    # p_o = 2/3, p_e = (2/3)(1/3) + (1/3)(2/3) = 4/9 -> κ = (2/9) / (5/9) = 0.4
    assert pairwise_cohen(ratings) == {"1-2": pytest.approx(0.4)}


def test_perfect_agreement_is_one():
    assert pairwise_cohen([{1: "a", 2: "a"}, {1: "a", 2: "a"}]) == {"1-2": 1.0}
    assert fleiss_kappa([["a", "a"], ["a", "a"]]) == 1.0


def _ann(annotator, sentiment, stance="neutral", topics=()):
    return {"annotator": annotator, "sentiment": sentiment, "stance": stance, "topics": sorted(topics)}


@pytest.fixture(scope="module")
def schema():
    return load_schema()


def test_unanimous(schema):
    labels = resolve([_ann(1, "positive", topics=["ev"]), _ann(2, "positive", topics=["ev"])], schema)
    assert labels["sentiment"] == "positive" and labels["topics"] == ["ev"]
    assert set(labels["resolution"].values()) == {"unanimous"} and "needs_adjudication" not in labels


def test_majority_of_three_and_tie_of_two(schema):
    three = resolve([_ann(1, "positive"), _ann(2, "positive"), _ann(3, "negative")], schema)
    assert three["sentiment"] == "positive" and three["resolution"]["sentiment"] == "majority"
    two = resolve([_ann(1, "positive"), _ann(2, "negative")], schema)
    assert "sentiment" not in two and two["needs_adjudication"] == ["sentiment"]


def test_multi_label_majority_votes_per_label(schema):
    labels = resolve(
        [_ann(1, "neutral", topics=["ev", "tech"]), _ann(2, "neutral", topics=["ev"]), _ann(3, "neutral", topics=["ev", "finance"])],
        schema,
    )
    assert labels["topics"] == ["ev"] and labels["resolution"]["topics"] == "majority"


def test_priority_policy(schema):
    anns = [_ann(1, "positive"), _ann(2, "negative")]
    assert resolve(anns, schema, policy="priority", priority=[2, 1])["sentiment"] == "negative"
    assert resolve(anns, schema, policy="priority", priority=[9])["needs_adjudication"] == ["sentiment"]


def test_drop_policy_resolves_only_unanimous(schema):
    anns = [_ann(1, "positive"), _ann(2, "positive"), _ann(3, "negative")]
    labels = resolve(anns, schema, policy="drop")
    assert "sentiment" not in labels and labels["needs_adjudication"] == ["sentiment"]


def test_unknown_policy(schema):
    with pytest.raises(ValueError, match="unknown adjudication policy 'vote'"):
        resolve([_ann(1, "positive")], schema, policy="vote")


def test_report_lists_disagreements_and_per_topic_kappa(schema):
    records = [
        {"id": "s1", "text": "x", "annotations": [_ann(1, "positive", topics=["ev"]), _ann(2, "positive", topics=["ev"])]},
        {"id": "s2", "text": "y", "annotations": [_ann(1, "negative", topics=["ev"]), _ann(2, "neutral", topics=[])]},
    ]
    report = agreement_report(records, schema)
    assert report["fields"]["sentiment"]["percent_agreement"] == 0.5
    assert {(d["id"], d["field"]) for d in report["disagreements"]} == {("s2", "sentiment"), ("s2", "topics")}
    assert report["per_label"]["topics"]["iot"]["cohen_kappa"] == {"1-2": 1.0}
    assert math.isclose(report["per_label"]["topics"]["ev"]["percent_agreement"], 0.5)


def test_shared_export_reproduces_the_stated_agreement(shared):
    from toolkit.studio.export import read_export

    report = agreement_report(read_export(shared / "annotations" / "round1-export.json"))
    assert report["fields"]["sentiment"]["cohen_kappa"]["2-3"] == pytest.approx(0.94, abs=0.005)
    assert report["fields"]["stance"]["cohen_kappa"]["2-3"] == pytest.approx(0.96, abs=0.005)
    per_topic = [v["cohen_kappa"]["2-3"] for v in report["per_label"]["topics"].values()]
    assert 0.83 <= min(per_topic) and max(per_topic) == 1.0


def test_import_export_and_agreement_commands(tmp_path):
    import json

    from typer.testing import CliRunner

    from toolkit.cli import app
    from toolkit.io import read_records

    def ann(user, sentiment, cancelled=False):
        result = [] if cancelled else [
            {"from_name": "sentiment", "to_name": "text", "type": "choices", "value": {"choices": [sentiment]}},
            {"from_name": "stance", "to_name": "text", "type": "choices", "value": {"choices": ["neutral"]}},
        ]
        return {"completed_by": user, "was_cancelled": cancelled, "result": result}

    tasks = [
        {"id": 1, "data": {"text": "甲。", "article_id": "a", "sentence_index": 0}, "annotations": [ann(2, "positive"), ann(3, "positive")]},
        {"id": 2, "data": {"text": "乙。", "article_id": "a", "sentence_index": 1}, "annotations": [ann(2, "positive"), ann(3, "negative")]},
        {"id": 3, "data": {"text": "丙。", "article_id": "a", "sentence_index": 2}, "annotations": [ann(2, "neutral"), ann(3, "", cancelled=True)]},
    ]
    export = tmp_path / "export.json"
    export.write_text(json.dumps(tasks, ensure_ascii=False), encoding="utf-8")
    runner = CliRunner()
    out = tmp_path / "reviewed.jsonl"
    result = runner.invoke(app, ["studio", "import-export", str(export), "--out", str(out), "--policy", "priority",
                                 "--priority", "3"])
    assert result.exit_code == 0, result.output
    records = list(read_records(out))
    assert [r["labels"]["sentiment"] for r in records] == ["positive", "negative", "neutral"]
    assert records[1]["labels"]["resolution"]["sentiment"] == "priority"

    report_path = tmp_path / "agreement.json"
    result = runner.invoke(app, ["studio", "agreement", str(out), "--out", str(report_path)])
    assert result.exit_code == 0, result.output
    report = json.loads(report_path.read_text(encoding="utf-8"))
    assert report["fields"]["sentiment"]["percent_agreement"] == 0.5
    assert [d["id"] for d in report["disagreements"]] == [records[1]["id"]]

    tasks[0]["annotations"][0]["result"].append(
        {"from_name": "mood", "to_name": "text", "type": "choices", "value": {"choices": ["happy"]}})
    export.write_text(json.dumps(tasks, ensure_ascii=False), encoding="utf-8")
    result = runner.invoke(app, ["studio", "import-export", str(export), "--out", str(out)])
    assert result.exit_code == 1 and "unknown control 'mood'" in result.output


def test_topics_in_another_order_are_the_same_answer(schema):
    first, second = _ann(1, "neutral"), _ann(2, "neutral")
    first["topics"], second["topics"] = ["ev", "phone"], ["phone", "ev"]  # as a hand-written file may hold them
    records = [{"id": "s1", "text": "x", "annotations": [first, second]}]
    report = agreement_report(records, schema)
    assert report["fields"]["topics"]["percent_agreement"] == 1.0 and report["disagreements"] == []


def test_krippendorff_alpha_matches_the_reference_package_on_random_data():
    import random

    import krippendorff
    import numpy as np

    rng = random.Random(5)
    for trial in range(20):
        coders, n_units, categories = rng.randint(2, 5), rng.randint(5, 40), rng.randint(2, 4)
        matrix = np.full((coders, n_units), np.nan)
        for c in range(coders):
            for u in range(n_units):
                if rng.random() > 0.2:  # some values missing
                    matrix[c, u] = rng.randrange(categories)
        units = [[int(v) for v in matrix[:, u] if not np.isnan(v)] for u in range(n_units)]
        if sum(len(u) >= 2 for u in units) < 2 or len({v for u in units for v in u}) < 2:
            continue
        expected = krippendorff.alpha(reliability_data=matrix, level_of_measurement="nominal")
        assert krippendorff_alpha(units) == pytest.approx(expected, abs=1e-9), trial
