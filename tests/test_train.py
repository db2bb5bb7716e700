"""Training mechanics on a tiny randomly initialised BERT (no download)."""

import json
import shutil

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from toolkit.cli import app
from toolkit.errors import ConfigError, InputError, ModelError
from toolkit.evaluate.report import evaluate_model, expected_calibration_error
from toolkit.labels import load_schema
from toolkit.train.config import TrainConfig, load_train_config
from toolkit.train.data import build_dataset, chnsenticorp_examples, finfe_examples, split_by_article
from toolkit.model import TextClassifier
from toolkit.train.trainer import Trainer, balanced_weights, epoch_order, masked_loss, tune_thresholds

REVIEWED = "examples/reviewed.jsonl"
runner = CliRunner()


def tiny(tmp_path, **overrides):
    data = {
        "random_init": {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64},
        "max_length": 64, "batch_size": 8, "lr": 0.005, "epochs": 3, "warmup_ratio": 0.0, "seed": 7,
        "data": {"train": [{"format": "reviewed", "path": REVIEWED}], "dev": [{"format": "reviewed", "path": REVIEWED}]},
    }
    data.update(overrides)
    return TrainConfig.model_validate(data)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny")
    result = Trainer(tiny(out), out, show_progress=False).train()
    return out, result


def test_loss_goes_down_and_folders_are_written(trained):
    out, result = trained
    losses = [h["train_loss"] for h in result.history]
    assert len(losses) == 3 and losses[-1] < losses[0]
    for name in ("model-best", "model-final", "checkpoint/model"):
        folder = out / name
        assert (folder / "model.safetensors").is_file() and (folder / "toolkit_model.json").is_file()
    card = (out / "model-final" / "README.md").read_text(encoding="utf-8")
    assert "Data lineage" in card and "examples/reviewed.jsonl" in card and "sha256" in card
    metrics = json.loads((out / "model-final" / "training_metrics.json").read_text())
    assert metrics["train_examples_per_second"] > 0 and metrics["peak_memory_mb"] > 0


def test_one_call_loads_a_saved_model(trained):
    out, _ = trained
    clf = TextClassifier.load(out / "model-best")
    one = clf.predict("小米汽车交付创新高。")
    assert set(one) == {"sentiment", "stance", "topics"}
    assert one["sentiment"] in ("positive", "neutral", "negative") and isinstance(one["topics"], list)
    probs = clf.predict_proba(["小米汽车交付创新高。", "華為銷量增長"])
    assert probs["sentiment"].shape == (2, 3) and np.allclose(probs["sentiment"].sum(1), 1, atol=1e-5)
    assert probs["topics"].shape == (2, 7)


def test_training_is_deterministic_given_the_seed(trained, tmp_path):
    out, _ = trained
    again = Trainer(tiny(tmp_path), tmp_path, show_progress=False).train()
    first = TextClassifier.load(out / "model-final").model_version
    assert TextClassifier.load(again.final_dir).model_version == first


def test_resume_continues_an_interrupted_run(trained, tmp_path):
    out, result = trained
    copy = tmp_path / "run"
    shutil.copytree(out, copy)
    resumed = Trainer(tiny(copy, epochs=4), copy, show_progress=False).train(resume=True)
    assert [h["epoch"] for h in resumed.history] == [1, 2, 3, 4]
    assert resumed.history[:3] == result.history
    with pytest.raises(InputError, match="nothing to resume"):
        Trainer(tiny(tmp_path / "fresh"), tmp_path / "fresh", show_progress=False).train(resume=True)


def test_evaluate_writes_every_report_file(trained, tmp_path):
    out, _ = trained
    report = evaluate_model(out / "model-best", REVIEWED, tmp_path / "report")
    for name in ("metrics.json", "report.md", "confusion.json", "confusion_sentiment.png", "confusion_stance.png",
                 "reliability.png"):
        assert (tmp_path / "report" / name).is_file(), name
    assert set(report["systems"]) == {"model", "rules", "tfidf"}
    assert {"sentiment", "stance", "topics"} <= set(report["systems"]["tfidf"])
    assert 0 <= report["calibration"]["sentiment"]["ece"] <= 1
    assert "| sentiment | macro_f1 |" in (tmp_path / "report" / "report.md").read_text(encoding="utf-8")


def test_dataset_build_splits_by_article(tmp_path):
    manifest = build_dataset([REVIEWED], tmp_path / "ds", ratios=(0.6, 0.2, 0.2), seed=3)
    splits = manifest["splits"]
    seen = [a for s in splits.values() for a in s["articles"]]
    assert len(seen) == len(set(seen)) == 13
    assert sum(s["units"] for s in splits.values()) == 101
    assert manifest["sources"][0]["sha256"] and manifest["adjudication_policy"] == "majority"
    from datasets import load_from_disk

    ds = load_from_disk(str(tmp_path / "ds"))
    assert set(ds) == {"train", "dev", "test"}
    cfg = tiny(tmp_path, epochs=1, data={"train": [{"format": "dataset", "path": str(tmp_path / "ds")}],
                                         "dev": [{"format": "dataset", "path": str(tmp_path / "ds"), "split": "dev"}]})
    assert Trainer(cfg, tmp_path / "m", show_progress=False).train().final_dir.is_dir()


def test_manifest_and_model_card_report_annotator_agreement(tmp_path):
    rows = []
    for i, line in enumerate(open(REVIEWED, encoding="utf-8").read().splitlines()[:20]):
        record = json.loads(line)
        first = record["annotations"][0]
        second = dict(first, annotator="second", sentiment="neutral" if i % 4 == 0 else first["sentiment"])
        rows.append(json.dumps(dict(record, annotations=[first, second]), ensure_ascii=False))
    reviewed = tmp_path / "two.jsonl"
    reviewed.write_text("\n".join(rows) + "\n", encoding="utf-8")
    manifest = build_dataset([reviewed], tmp_path / "ds", ratios=(0.6, 0.2, 0.2), seed=3)
    agreement = manifest["agreement"]
    assert agreement["stance"] == {"units": 20, "percent_agreement": 1.0, "krippendorff_alpha": 1.0, "cohen_kappa": 1.0}
    changed = sum(json.loads(r)["annotations"][0]["sentiment"] != "neutral" for r in rows[::4])
    assert agreement["sentiment"]["percent_agreement"] == round(1 - changed / 20, 3)
    assert agreement["sentiment"]["krippendorff_alpha"] < 1
    cfg = tiny(tmp_path, epochs=1, data={"train": [{"format": "dataset", "path": str(tmp_path / "ds")}]})
    card = (Trainer(cfg, tmp_path / "m", show_progress=False).train().final_dir / "README.md").read_text(encoding="utf-8")
    assert "annotator agreement in `ds`" in card and "stance: 20 units annotated twice or more, 100% in full agreement" in card
    single = build_dataset([REVIEWED], tmp_path / "one", ratios=(0.6, 0.2, 0.2), seed=3)
    assert single["agreement"] == {}


def test_split_is_seeded_and_never_shares_an_article():
    rows = [{"article_id": f"a{i % 7}", "id": i} for i in range(70)]
    first = split_by_article(rows, (0.7, 0.15, 0.15), seed=1)
    assert first == split_by_article(rows, (0.7, 0.15, 0.15), seed=1)
    articles = [{r["article_id"] for r in part} for part in first.values()]
    assert not (articles[0] & articles[1]) and not (articles[0] & articles[2]) and not (articles[1] & articles[2])
    with pytest.raises(ValueError, match="summing to 1"):
        split_by_article(rows, (0.5, 0.5, 0.5), seed=1)


def test_masked_loss_skips_missing_fields():
    tasks = [{"name": "sentiment", "kind": "single", "labels": ["p", "n"]},
             {"name": "topics", "kind": "multi", "labels": ["a", "b"]}]
    logits = {"sentiment": torch.tensor([[2.0, 0.0], [0.0, 2.0]], requires_grad=True),
              "topics": torch.tensor([[5.0, -5.0], [0.0, 0.0]], requires_grad=True)}
    batch = {"sentiment": torch.tensor([0, -1]), "topics": torch.tensor([[1.0, 0.0], [1.0, 1.0]]),
             "topics_mask": torch.tensor([1, 0])}
    loss, parts = masked_loss(logits, batch, tasks)
    expected_ce = float(torch.nn.functional.cross_entropy(torch.tensor([[2.0, 0.0]]), torch.tensor([0])))
    assert parts["sentiment"] == pytest.approx(expected_ce)
    # only the first record counts for topics: BCE(5, 1) and BCE(-5, 0), both log(1 + e^-5)
    assert parts["topics"] == pytest.approx(float(np.log1p(np.exp(-5.0))), rel=1e-5)
    loss.backward()
    assert torch.all(logits["sentiment"].grad[1] == 0) and torch.all(logits["topics"].grad[1] == 0)

    none_labelled = {"sentiment": torch.tensor([-1, -1]), "topics": batch["topics"], "topics_mask": torch.tensor([0, 0])}
    loss, parts = masked_loss(logits, none_labelled, tasks)
    assert parts == {} and float(loss) == 0.0 and not loss.requires_grad


def test_balanced_weights_make_a_rare_topic_count_as_much_as_its_absence():
    tasks = [{"name": "topics", "kind": "multi", "labels": ["rare", "common", "never"]}]
    # 8 labelled records: "rare" present once, "common" 4 times, "never" not at all; one unlabelled record
    train = [{"topics": [float(i == 0), float(i < 4), 0.0], "topics_mask": 1} for i in range(8)]
    train.append({"topics": [1.0, 1.0, 1.0], "topics_mask": 0})
    weights = balanced_weights(train, tasks)["topics"]
    # rows: weight of an absent label, of a present one; n / (2 * count) as scikit-learn's "balanced"
    assert weights.flatten().tolist() == pytest.approx([8 / 14, 1.0, 1.0, 4.0, 1.0, 1.0])
    assert float(weights[1, 0]) == pytest.approx(7 * float(weights[0, 0]))  # 1 presence weighs as the 7 absences

    logits = {"topics": torch.zeros(2, 3, requires_grad=True)}
    batch = {"topics": torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]), "topics_mask": torch.tensor([1, 1])}
    _, plain = masked_loss(logits, batch, tasks)
    _, weighted = masked_loss(logits, batch, tasks, {"topics": weights})
    per_label = float(np.log(2.0))  # BCE at logit 0
    assert plain["topics"] == pytest.approx(per_label)
    expected = per_label * (4.0 + 1.0 + 1.0 + 8 / 14 + 1.0 + 1.0) / 6
    assert weighted["topics"] == pytest.approx(expected, rel=1e-6)


def test_length_grouped_batches_pad_less_and_keep_every_example():
    rng = np.random.default_rng(0)
    lengths = rng.integers(5, 300, size=1000).tolist()
    batch = 8

    def padded(order: list[int]) -> int:
        return sum(max(lengths[i] for i in order[s : s + batch]) * len(order[s : s + batch])
                   for s in range(0, len(order), batch))

    plain = epoch_order(lengths, batch, seed=3)
    grouped = epoch_order(lengths, batch, seed=3, group_by_length=True)
    assert sorted(grouped) == sorted(plain) == list(range(1000))
    assert grouped == epoch_order(lengths, batch, seed=3, group_by_length=True)  # seeded
    assert grouped != epoch_order(lengths, batch, seed=4, group_by_length=True)
    assert padded(grouped) < 0.7 * padded(plain)
    # chunks of `batch` are the sorted batches, also when a short batch is left over (1003 = 125 * 8 + 3)
    odd_lengths = lengths + [1, 2, 3]
    odd = epoch_order(odd_lengths, batch, seed=3, group_by_length=True)
    assert sorted(odd) == list(range(1003))
    for s in range(0, len(odd), batch):
        chunk = [odd_lengths[i] for i in odd[s : s + batch]]
        assert chunk == sorted(chunk, reverse=True)


def test_threshold_tuning_on_a_constructed_case():
    probs = np.array([[0.9, 0.2], [0.7, 0.1], [0.35, 0.3], [0.3, 0.05], [0.1, 0.6]])
    truth = np.array([[1, 0], [1, 0], [1, 0], [0, 0], [0, 0]])
    thresholds = tune_thresholds(probs, truth, ["a", "b"])
    # "a": positives at 0.9, 0.7, 0.35 and a negative at 0.3 -> any threshold in (0.3, 0.35] is perfect
    assert thresholds["a"] == pytest.approx(0.35)
    assert thresholds["b"] == 0.5  # no positives: default


def test_ece_of_a_perfectly_calibrated_case():
    probs = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    assert expected_calibration_error(probs, np.array([0, 1, 0]))[0] == pytest.approx(0.0)
    assert expected_calibration_error(probs, np.array([1, 0, 1]))[0] == pytest.approx(1.0)


def test_foreign_corrupt_and_pickle_model_folders(trained, tmp_path):
    out, _ = trained
    with pytest.raises(ModelError, match="not a toolkit model folder"):
        TextClassifier.load(tmp_path)
    corrupt = tmp_path / "corrupt"
    shutil.copytree(out / "model-best", corrupt)
    (corrupt / "model.safetensors").write_bytes(b"\x00garbage")
    with pytest.raises(ModelError, match="corrupt weights"):
        TextClassifier.load(corrupt)
    shutil.copy2(out / "model-best" / "model.safetensors", corrupt / "model.safetensors")
    (corrupt / "heads.safetensors").write_bytes(b"\x00garbage")
    with pytest.raises(ModelError, match="corrupt or missing head weights"):
        TextClassifier.load(corrupt)
    pickled = tmp_path / "pickled"
    shutil.copytree(out / "model-best", pickled)
    reference = TextClassifier.load(out / "model-best")
    (pickled / "model.safetensors").unlink()
    torch.save(reference.model.encoder.state_dict(), pickled / "pytorch_model.bin")  # an older HF folder's weights
    with pytest.raises(ModelError, match="pickle weights"):
        TextClassifier.load(pickled)
    texts = ["小米。", "華為手機銷量下滑"]
    loaded = TextClassifier.load(pickled, allow_pickle=True).predict_proba(texts)
    assert all(np.allclose(p, reference.predict_proba(texts)[task], atol=1e-6) for task, p in loaded.items())


def test_rule_prior_starts_at_the_rules_and_travels_with_the_model(tmp_path):
    from toolkit.annotate import RulePreannotator

    trainer = Trainer(tiny(tmp_path, rule_prior=True, epochs=1), tmp_path, show_progress=False)
    texts = [r["text"] for r in trainer._examples("train")]
    untrained = trainer._new_classifier(trainer._examples("train")).predict(texts)
    rules = RulePreannotator().predict(texts)
    assert [p["sentiment"] for p in untrained] == [r["sentiment"]["label"] for r in rules]
    assert [p["stance"] for p in untrained] == [r["stance"]["label"] for r in rules]
    assert [p["topics"] for p in untrained] == [r["topics"]["labels"] for r in rules]
    folder = trainer.train().final_dir
    clf = TextClassifier.load(folder)
    assert clf.meta["rule_prior"] == ["sentiment", "stance", "topics"] and (folder / "rules" / "lexicon").is_dir()
    assert "Rule prior" in (folder / "README.md").read_text(encoding="utf-8")
    with pytest.raises(ValueError, match="pass prior="):
        clf.model(**{k: v for k, v in clf.encode(texts[:2]).items() if k != "token_type_ids"})
    shutil.rmtree(folder / "rules")
    with pytest.raises(ModelError, match="rules/ folder is missing"):
        TextClassifier.load(folder)


def test_sentiment_only_sources_mask_the_other_fields(tmp_path):
    schema = load_schema()
    tsv = tmp_path / "c.tsv"
    tsv.write_text("label\ttext_a\n1\t房间干净,服务很好\n0\t太吵了\n", encoding="utf-8")
    rows = chnsenticorp_examples(tsv, schema)
    assert [r["sentiment"] for r in rows] == [0, 2] and all(r["stance"] == -1 and r["topics_mask"] == 0 for r in rows)
    finfe = tmp_path / "f.json"
    finfe.write_text(json.dumps([["明天大涨", "1"], ["一般般", "0.5"], ["割肉了", "0"], ["坏行", "=-D310"]]), encoding="utf-8")
    assert [r["sentiment"] for r in finfe_examples(finfe, schema)] == [0, 1, 2]
    bad = tmp_path / "bad.tsv"
    bad.write_text("a\tb\n", encoding="utf-8")
    with pytest.raises(InputError, match="label<TAB>text_a"):
        chnsenticorp_examples(bad, schema)


def test_config_errors_and_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("epochs: 0\ndata: {train: []}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_train_config(path)
    message = str(info.value)
    assert "epochs" in message and "data.train" in message
    path.write_text("data: {train: [{format: reviewed, path: x.jsonl}]}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="exactly one of `model`"):
        load_train_config(path)
    with pytest.raises(ConfigError, match="add `rule_prior: true`"):
        load_train_config("configs/tiny.yaml", {"lexicon": "labels/lexicon"})
    cfg = load_train_config("configs/tiny.yaml", {"lr": "2e-5", "random_init.hidden_size": "16"})
    assert cfg.lr == 2e-5 and cfg.random_init.hidden_size == 16


def test_train_and_evaluate_commands(tmp_path):
    out = tmp_path / "m"
    result = runner.invoke(app, ["train", "--config", "configs/tiny.yaml", "--out", str(out), "-q", "--set", "epochs=1"])
    assert result.exit_code == 0, result.output
    assert "override epochs = 1" in result.output and (out / "model-final" / "README.md").is_file()
    result = runner.invoke(app, ["evaluate", "--model", str(out / "model-final"), "--data", REVIEWED,
                                 "--out", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "r" / "report.md").is_file()
    result = runner.invoke(app, ["evaluate", "--model", str(tmp_path), "--data", REVIEWED, "--out", str(tmp_path / "x")])
    assert result.exit_code == 1 and "not a toolkit model folder" in result.output


def test_weak_labels_come_from_confident_rules_and_reviewed_labels_win(tmp_path):
    from toolkit.annotate import RulePreannotator
    from toolkit.train.data import weak_examples

    schema = load_schema()
    reviewed = [json.loads(line) for line in open(REVIEWED, encoding="utf-8")]
    sentence = next(r for r in reviewed if r["labels"]["sentiment"] == "negative")
    unlabelled = tmp_path / "headlines.txt"
    texts = [sentence["text"], "小米汽车交付量创历史新高，订单大增", "公司发布公告。"]
    unlabelled.write_text("\n".join(texts) + "\n", encoding="utf-8")
    weak = weak_examples(unlabelled, schema, min_confidence=0.6)
    rules = RulePreannotator().predict(texts)
    for row in weak:
        block = rules[texts.index(row["text"])]
        if row["sentiment"] != -1:
            label = schema.task("sentiment").label_names[row["sentiment"]]
            assert label == block["sentiment"]["label"] and block["sentiment"]["scores"][label] >= 0.6
    assert all(r["source"] == "weak:headlines.txt" for r in weak)
    assert sentence["text"] in {r["text"] for r in weak}  # the rules have an opinion on the reviewed sentence too
    assert len(weak_examples(unlabelled, schema, min_confidence=0.99)) < len(weak)

    # the reviewed sentence, also given as weak text, trains once, with its reviewed labels
    cfg = tiny(tmp_path, data={"train": [{"format": "reviewed", "path": REVIEWED},
                                        {"format": "weak", "path": str(unlabelled), "min_confidence": 0.6}]})
    rows = Trainer(cfg, tmp_path / "m", show_progress=False)._examples("train")
    same = [r for r in rows if r["text"] == sentence["text"]]
    assert len(same) == 1 and same[0]["source"] == "reviewed.jsonl"
    assert any(r["source"].startswith("weak:") for r in rows)


def test_threshold_shrinkage_pulls_thresholds_with_few_positives_toward_half():
    probs = np.array([[0.9, 0.2], [0.1, 0.25], [0.15, 0.8], [0.2, 0.3]] * 5)
    truth = np.array([[1, 1], [0, 1], [0, 1], [0, 0]] * 5, dtype=float)
    tuned = tune_thresholds(probs, truth, ["a", "b"])
    shrunk = tune_thresholds(probs, truth, ["a", "b"], shrinkage=5)
    assert tuned["b"] < 0.5 and tuned["b"] < shrunk["b"] < 0.5
    positives = {"a": 5, "b": 15}
    for label in ("a", "b"):
        n = positives[label]
        assert shrunk[label] == pytest.approx(0.5 + (tuned[label] - 0.5) * n / (n + 5), abs=1e-4)


def test_a_run_killed_mid_epoch_resumes_to_the_same_weights(tmp_path, monkeypatch):
    whole = Trainer(tiny(tmp_path / "whole", epochs=2, checkpoint_every=3), tmp_path / "whole", show_progress=False).train()
    saves = {"n": 0}
    real_save = Trainer._save_checkpoint

    def killed_after_second_save(self, *args):
        real_save(self, *args)
        saves["n"] += 1
        if saves["n"] == 2:  # the second mid-epoch checkpoint (step 6 of 13 in an epoch): the process dies here
            raise KeyboardInterrupt

    monkeypatch.setattr(Trainer, "_save_checkpoint", killed_after_second_save)
    out = tmp_path / "killed"
    with pytest.raises(KeyboardInterrupt):
        Trainer(tiny(out, epochs=2, checkpoint_every=3), out, show_progress=False).train()
    state = json.loads((out / "checkpoint" / "trainer_state.json").read_text())
    assert state["epoch"] == 0 and state["batch_in_epoch"] == 6  # inside the first epoch
    monkeypatch.setattr(Trainer, "_save_checkpoint", real_save)
    with pytest.raises(InputError, match="--resume to continue it, or --overwrite"):
        Trainer(tiny(out, epochs=2, checkpoint_every=3), out, show_progress=False).train()
    resumed = Trainer(tiny(out, epochs=2, checkpoint_every=3), out, show_progress=False).train(resume=True)
    assert TextClassifier.load(resumed.final_dir).model_version == TextClassifier.load(whole.final_dir).model_version
    assert [h["train_loss"] for h in resumed.history] == pytest.approx([h["train_loss"] for h in whole.history])
    fresh = Trainer(tiny(out, epochs=1), out, show_progress=False).train(overwrite=True)
    assert len(fresh.history) == 1
