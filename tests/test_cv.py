"""Leave-one-article-out cross-validation on the bundled sample with the tiny random encoder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from toolkit.cli import app
from toolkit.errors import InputError
from toolkit.evaluate.cv import cross_validate, cv_pool, inner_split
from toolkit.labels import load_schema
from toolkit.train.config import load_train_config
from toolkit.train.trainer import Trainer

ROOT = Path(__file__).resolve().parent.parent
REVIEWED = ROOT / "examples" / "reviewed.jsonl"
FOLDS = ["xiaomi-q3-results", "brief-iot-001", "xiaomi-smart-home"]
runner = CliRunner()


def test_inner_split_keeps_whole_articles_on_both_sides():
    units = {"a": 10, "b": 5, "c": 5, "d": 30}
    train, dev = inner_split(list(units), units, dev_share=0.2, seed=3)
    assert set(train) | set(dev) == set(units) and not set(train) & set(dev)
    assert dev and train
    assert sum(units[a] for a in dev) >= 0.2 * sum(units.values()) or len(train) == 1
    assert inner_split(list(units), units, dev_share=0.2, seed=3) == (train, dev)


def test_no_fold_lets_its_held_out_article_reach_training_epochs_or_thresholds(tmp_path, monkeypatch):
    schema = load_schema()
    pool = cv_pool([REVIEWED], schema)
    seen: list[dict[str, set[str]]] = []
    train, evaluate = Trainer.train, Trainer.evaluate

    def recording_train(self, **kwargs):
        seen.append({"train": {r["id"] for r in self._examples("train")}, "dev": {r["id"] for r in self._examples("dev")},
                     "evaluated": set()})
        return train(self, **kwargs)

    def recording_evaluate(self, clf, rows, **kwargs):
        seen[-1]["evaluated"] |= {r["id"] for r in rows}  # epoch choice and threshold tuning see only these
        return evaluate(self, clf, rows, **kwargs)

    monkeypatch.setattr(Trainer, "train", recording_train)
    monkeypatch.setattr(Trainer, "evaluate", recording_evaluate)
    config = load_train_config(ROOT / "configs" / "tiny.yaml", {"epochs": "2"})
    report = cross_validate(config, pool, tmp_path, schema=schema, folds=FOLDS, show_progress=False)

    assert [f["article"] for f in report["folds"]] == FOLDS and len(seen) == len(FOLDS)
    for fold, ids in zip(report["folds"], seen):
        held = {r["id"] for r in pool if r["article_id"] == fold["article"]}
        assert held and not held & (ids["train"] | ids["dev"] | ids["evaluated"])
        assert fold["article"] not in fold["train_articles"] + fold["dev_articles"]
        assert not set(fold["train_articles"]) & set(fold["dev_articles"])
        assert ids["evaluated"] <= ids["dev"]
    predictions = [json.loads(line) for line in (tmp_path / "predictions.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(predictions) == report["units"] == sum(f["units"] for f in report["folds"])
    assert {p["article_id"] for p in predictions} == set(FOLDS)
    for system in ("model", "rules", "tfidf"):
        assert 0 <= report["pooled"][system]["sentiment"]["macro_f1"] <= 1
        assert report["per_fold_spread"][system]["sentiment"]["folds"] == len(FOLDS)
    assert "micro_f1" in report["pooled"]["model"]["topics"] and report["cost"]["train_seconds"] > 0
    assert (tmp_path / "cv.md").read_text(encoding="utf-8").startswith("# Leave-one-article-out")
    assert not (tmp_path / "folds").exists() or not any((tmp_path / "folds").iterdir())


def test_cv_command_and_its_errors(tmp_path):
    result = runner.invoke(app, ["evaluate", "--cv", "articles", "--config", "configs/tiny.yaml", "--data", str(REVIEWED),
                                 "--fold", "brief-chip-002", "--set", "epochs=1", "--out", str(tmp_path / "cv"), "-q"])
    assert result.exit_code == 0, result.output
    assert "brief-chip-002" in result.output and (tmp_path / "cv" / "cv.json").is_file()
    result = runner.invoke(app, ["evaluate", "--cv", "articles", "--config", "configs/tiny.yaml", "--data", str(REVIEWED),
                                 "--fold", "no-such-article", "--out", str(tmp_path / "x"), "-q"])
    assert result.exit_code == 1 and "no reviewed units for article(s) no-such-article" in result.output
    result = runner.invoke(app, ["evaluate", "--cv", "sentences", "--config", "configs/tiny.yaml", "--data", str(REVIEWED),
                                 "--out", str(tmp_path / "y")])
    assert result.exit_code != 0 and "articles" in result.output
    two = tmp_path / "two.jsonl"
    two.write_text("".join(line + "\n" for line in REVIEWED.read_text(encoding="utf-8").splitlines()[:6]), encoding="utf-8")
    with pytest.raises(InputError, match="at least 3 articles"):
        cross_validate(load_train_config(ROOT / "configs" / "tiny.yaml"), cv_pool([two], load_schema()), tmp_path / "z")
