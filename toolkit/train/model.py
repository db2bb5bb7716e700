"""The classifier: a pretrained encoder, masked-mean or CLS pooling, and one head per task.

``TextClassifier`` owns prediction, saving and loading (the trainer owns the loop). A saved folder holds
the weights as safetensors, the encoder config, the tokenizer, ``toolkit_model.json`` (labels, heads,
pooling, text prefix, max length, topic thresholds) and ``MODEL_CARD.md``; ``TextClassifier.load(folder)``
is the one call that restores it.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from toolkit import __version__
from toolkit.errors import ModelError
from toolkit.ingest.normalize import normalize
from toolkit.labels import LabelSchema

FORMAT_VERSION = 1
META_FILE = "toolkit_model.json"
WEIGHTS_FILE = "model.safetensors"
_PICKLE_FILES = ("pytorch_model.bin", "model.pt", "model.bin")


class MultiTaskModel(nn.Module):
    """Encoder + pooling + heads. Single-choice heads give class logits, multi-choice heads one logit per label."""

    def __init__(self, encoder: nn.Module, heads: dict[str, int], *, pooling: str = "mean", dropout: float = 0.1) -> None:
        super().__init__()
        self.encoder = encoder
        self.pooling = pooling
        self.dropout = nn.Dropout(dropout)
        hidden = encoder.config.hidden_size
        self.heads = nn.ModuleDict({name: nn.Linear(hidden, n) for name, n in heads.items()})

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> dict[str, torch.Tensor]:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        if self.pooling == "cls":
            pooled = hidden[:, 0]
        else:
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        pooled = self.dropout(pooled)
        return {name: head(pooled) for name, head in self.heads.items()}


def char_tokenizer(texts: Iterable[str], folder: Path) -> Any:
    """A BERT WordPiece tokenizer whose vocabulary is the characters of ``texts`` (for random-init models).

    Chinese BERT tokenisation splits CJK text into characters anyway, so this is the natural tiny vocabulary.
    """
    from transformers import BertTokenizerFast

    chars = sorted({c for text in texts for c in normalize(text).lower() if not c.isspace()})
    folder.mkdir(parents=True, exist_ok=True)
    vocab = folder / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *chars]) + "\n", encoding="utf-8")
    return BertTokenizerFast(vocab_file=str(vocab), tokenize_chinese_chars=True, do_lower_case=True)


class TextClassifier:
    """Tokenizer + ``MultiTaskModel`` + label metadata; predicts label names and probabilities."""

    def __init__(self, model: MultiTaskModel, tokenizer: Any, meta: dict[str, Any]) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.meta = meta

    @property
    def tasks(self) -> list[dict[str, Any]]:
        return self.meta["tasks"]

    @property
    def model_version(self) -> str:
        return self.meta.get("model_version", "model")

    @classmethod
    def create(
        cls, schema: LabelSchema, tasks: Sequence[str], *, encoder: nn.Module, tokenizer: Any, pooling: str,
        text_prefix: str, max_length: int, dropout: float,
    ) -> TextClassifier:
        heads = [t for t in schema.tasks if t.name in tasks]
        meta = {
            "format_version": FORMAT_VERSION,
            "toolkit_version": __version__,
            "tasks": [{"name": t.name, "kind": t.kind, "labels": list(t.label_names)} for t in heads],
            "pooling": pooling,
            "text_prefix": text_prefix,
            "max_length": max_length,
            "thresholds": {t.name: dict.fromkeys(t.label_names, 0.5) for t in heads if t.kind == "multi"},
        }
        model = MultiTaskModel(encoder, {t.name: len(t.label_names) for t in heads}, pooling=pooling, dropout=dropout)
        return cls(model, tokenizer, meta)

    def encode(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        prefix = self.meta["text_prefix"]
        return self.tokenizer(
            [prefix + normalize(t) for t in texts], padding=True, truncation=True,
            max_length=self.meta["max_length"], return_tensors="pt",
        )

    @torch.inference_mode()
    def predict_proba(self, texts: Sequence[str], *, batch_size: int = 64) -> dict[str, np.ndarray]:
        """Per task an (N, K) array: softmax for single-choice tasks, sigmoid per label for multi-choice."""
        self.model.eval()
        chunks: dict[str, list[np.ndarray]] = {t["name"]: [] for t in self.tasks}
        for start in range(0, len(texts), batch_size):
            batch = self.encode(texts[start : start + batch_size])
            logits = self.model(batch["input_ids"], batch["attention_mask"])
            for task in self.tasks:
                out = logits[task["name"]]
                probs = torch.softmax(out, -1) if task["kind"] == "single" else torch.sigmoid(out)
                chunks[task["name"]].append(probs.numpy())
        return {
            name: np.concatenate(parts) if parts else np.zeros((0, len(t["labels"])))
            for (name, parts), t in zip(chunks.items(), self.tasks)
        }

    def decide(self, probs: dict[str, np.ndarray]) -> dict[str, list[Any]]:
        """Per task and row, the label names: the top class (single-choice) or every label whose probability
        reaches its tuned threshold (multi-choice). The one place probabilities become labels."""
        out: dict[str, list[Any]] = {}
        for task in self.tasks:
            name, labels = task["name"], task["labels"]
            if task["kind"] == "single":
                out[name] = [labels[int(i)] for i in probs[name].argmax(1)]
            else:
                cut = np.array([self.meta["thresholds"][name][label] for label in labels])
                out[name] = [[lab for lab, hit in zip(labels, row) if hit] for row in probs[name] >= cut]
        return out

    def predict(self, texts: str | Sequence[str]) -> dict[str, Any] | list[dict[str, Any]]:
        """Label names for one text or a list: ``{"sentiment": "positive", "topics": ["ev"], …}`` per text."""
        single = isinstance(texts, str)
        items = [texts] if single else list(texts)
        decided = self.decide(self.predict_proba(items))
        out = [{name: values[i] for name, values in decided.items()} for i in range(len(items))]
        return out[0] if single else out

    def save(self, folder: str | Path, *, card: str | None = None, extra: dict[str, Any] | None = None) -> Path:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        state = {k: v.contiguous() for k, v in self.model.state_dict().items()}
        save_file(state, str(folder / WEIGHTS_FILE), metadata={"format": "pt", "toolkit": __version__})
        # content-addressed: the same weights always get the same version, new weights a new one (the file
        # itself is not hashed: safetensors writes its metadata map in no fixed order)
        digest = hashlib.sha256()
        for key in sorted(state):
            digest.update(key.encode())
            digest.update(state[key].numpy().tobytes())
        self.meta["model_version"] = f"{self.meta.get('model_name', 'model')}-{digest.hexdigest()[:12]}"
        self.model.encoder.config.save_pretrained(folder)
        self.tokenizer.save_pretrained(folder)
        (folder / META_FILE).write_text(json.dumps(self.meta, ensure_ascii=False, indent=2), encoding="utf-8")
        for name, data in (extra or {}).items():
            (folder / name).write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
        if card is not None:
            (folder / "MODEL_CARD.md").write_text(card, encoding="utf-8")
        return folder

    @classmethod
    def load(cls, folder: str | Path, *, allow_pickle: bool = False) -> TextClassifier:
        """Restore a saved folder. Pickle weight files are refused unless ``allow_pickle`` (they can run code)."""
        from transformers import AutoConfig, AutoModel, AutoTokenizer

        folder = Path(folder)
        if not folder.is_dir():
            raise ModelError(f"{folder}: no such model folder")
        meta_path = folder / META_FILE
        if not meta_path.is_file():
            raise ModelError(f"{folder}: not a toolkit model folder ({META_FILE} is missing); train one with `toolkit train`")
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise ModelError(f"{meta_path}: corrupt ({exc})") from None
        if meta.get("format_version") != FORMAT_VERSION:
            raise ModelError(f"{folder}: model format {meta.get('format_version')!r}, this toolkit reads {FORMAT_VERSION}")
        try:
            config = AutoConfig.from_pretrained(folder, local_files_only=True)
            tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        except (OSError, ValueError) as exc:
            raise ModelError(f"{folder}: cannot read the encoder config or tokenizer ({exc})") from None
        encoder = AutoModel.from_config(config, **_encoder_kwargs(config))
        model = MultiTaskModel(encoder, {t["name"]: len(t["labels"]) for t in meta["tasks"]}, pooling=meta["pooling"])
        model.load_state_dict(_read_weights(folder, allow_pickle))
        model.eval()
        return cls(model, tokenizer, meta)


def _encoder_kwargs(config: Any) -> dict[str, Any]:
    return {"add_pooling_layer": False} if config.model_type in ("bert", "roberta", "xlm-roberta") else {}


def _read_weights(folder: Path, allow_pickle: bool) -> dict[str, torch.Tensor]:
    weights = folder / WEIGHTS_FILE
    if weights.is_file():
        try:
            return load_file(str(weights))
        except Exception as exc:  # safetensors raises its own error types for truncated or garbled files
            raise ModelError(f"{weights}: corrupt weights ({exc})") from None
    pickled = next((folder / n for n in _PICKLE_FILES if (folder / n).is_file()), None)
    if pickled is None:
        raise ModelError(f"{folder}: no weights ({WEIGHTS_FILE} is missing)")
    if not allow_pickle:
        raise ModelError(
            f"{pickled}: pickle weights can run arbitrary code when loaded; refusing. "
            "Convert to safetensors, or pass allow_pickle=True (--allow-pickle) if you trust the source"
        )
    return torch.load(pickled, map_location="cpu", weights_only=True)


def load_encoder(name: str) -> tuple[nn.Module, Any]:
    """A pretrained encoder and its tokenizer from a local path or a hub id (offline-first)."""
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    local = Path(name).exists()
    try:
        config = AutoConfig.from_pretrained(name, local_files_only=local)
        tokenizer = AutoTokenizer.from_pretrained(name, local_files_only=local)
        encoder = AutoModel.from_pretrained(name, local_files_only=local, dtype=torch.float32, **_encoder_kwargs(config))
    except OSError as exc:
        raise ModelError(f"cannot load encoder {name!r}: {exc}") from None
    return encoder, tokenizer


def random_encoder(spec: Any, texts: Iterable[str], max_length: int) -> tuple[nn.Module, Any]:
    """A randomly initialised small BERT and a character tokenizer built from ``texts``."""
    from transformers import BertConfig, BertModel

    tokenizer = char_tokenizer(texts, Path(tempfile.mkdtemp(prefix="toolkit-vocab-")))
    config = BertConfig(
        vocab_size=len(tokenizer), hidden_size=spec.hidden_size, num_hidden_layers=spec.num_hidden_layers,
        num_attention_heads=spec.num_attention_heads, intermediate_size=spec.intermediate_size,
        max_position_embeddings=max(spec.max_position_embeddings, max_length), pad_token_id=0,
    )
    return BertModel(config, add_pooling_layer=False), tokenizer
