"""The classifier: a pretrained encoder, masked-mean or CLS pooling, and one head per task.

``TextClassifier`` owns prediction, saving and loading (the trainer owns the loop). A saved folder holds
the weights as safetensors, the encoder config, the tokenizer, ``toolkit_model.json`` (labels, heads,
pooling, text prefix, max length, topic thresholds) and ``MODEL_CARD.md``; ``TextClassifier.load(folder)``
is the one call that restores it.

With a rule prior (``rule_prior: true`` in the training config) a head's logits are
``head(pooled) + weight * prior``: the prior is the log of the rule pre-annotator's probabilities for a
single-choice task and its topic score minus the topic's threshold for a multi-choice one. Heads start at
zero and the per-label weights at values under which the untrained model decides exactly as the rules do,
so training learns where the reviewed labels depart from the rules instead of relearning their keywords
from a few hundred sentences. The rules (schema, config, lexicon files) are saved in the folder's
``rules/``, so the model predicts the same anywhere.
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
from toolkit.annotate import RulePreannotator
from toolkit.errors import ModelError
from toolkit.ingest.normalize import normalize
from toolkit.labels import LabelSchema

FORMAT_VERSION = 1
META_FILE = "toolkit_model.json"
WEIGHTS_FILE = "model.safetensors"
RULES_DIR = "rules"
_PICKLE_FILES = ("pytorch_model.bin", "model.pt", "model.bin")
# Initial prior weights: log-probabilities pass through unchanged; a topic score 0.25 past its threshold
# gives a logit of 2 (probability 0.88), a score of 0 one of -4 when the threshold is 0.5.
PRIOR_WEIGHT = {"single": 1.0, "multi": 8.0}
_PRIOR_FLOOR = 1e-6
_RULE_TASKS = ("sentiment", "stance", "topics")  # what a rule prediction block scores


class MultiTaskModel(nn.Module):
    """Encoder + pooling + heads. Single-choice heads give class logits, multi-choice heads one logit per label.

    ``prior`` maps head names to the initial weight of a per-label rule prior added to that head's logits
    (see the module docstring); those heads start at zero.
    """

    def __init__(self, encoder: nn.Module, heads: dict[str, int], *, pooling: str = "mean", dropout: float = 0.1,
                 prior: dict[str, float] | None = None) -> None:
        super().__init__()
        self.encoder = encoder
        self.pooling = pooling
        self.dropout = nn.Dropout(dropout)
        hidden = encoder.config.hidden_size
        self.heads = nn.ModuleDict({name: nn.Linear(hidden, n) for name, n in heads.items()})
        self.prior_weights = nn.ParameterDict(
            {name: nn.Parameter(torch.full((heads[name],), weight)) for name, weight in (prior or {}).items()}
        )
        for name in self.prior_weights:
            nn.init.zeros_(self.heads[name].weight)
            nn.init.zeros_(self.heads[name].bias)

    def head_parameters(self) -> list[nn.Parameter]:
        """What sits on top of the encoder (trained with the head learning rate)."""
        return [*self.heads.parameters(), *self.prior_weights.parameters()]

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                prior: dict[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        if self.pooling == "cls":
            pooled = hidden[:, 0]
        else:
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        pooled = self.dropout(pooled)
        logits = {name: head(pooled) for name, head in self.heads.items()}
        if len(self.prior_weights):
            if prior is None:
                raise ValueError("this model adds a rule prior to its heads; pass prior= (TextClassifier does)")
            for name, weight in self.prior_weights.items():
                logits[name] = logits[name] + weight * prior[name]
        return logits


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

    def __init__(self, model: MultiTaskModel, tokenizer: Any, meta: dict[str, Any],
                 rules: RulePreannotator | None = None) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.meta = meta
        self.rules = rules

    @property
    def tasks(self) -> list[dict[str, Any]]:
        return self.meta["tasks"]

    @property
    def model_version(self) -> str:
        return self.meta.get("model_version", "model")

    @classmethod
    def create(
        cls, schema: LabelSchema, tasks: Sequence[str], *, encoder: nn.Module, tokenizer: Any, pooling: str,
        text_prefix: str, max_length: int, dropout: float, rules: RulePreannotator | None = None,
    ) -> TextClassifier:
        """A new classifier; with ``rules`` every head the rules also predict gets a rule prior."""
        heads = [t for t in schema.tasks if t.name in tasks]
        prior = {t.name: PRIOR_WEIGHT[t.kind] for t in heads if t.name in _RULE_TASKS} if rules else {}
        meta = {
            "format_version": FORMAT_VERSION,
            "toolkit_version": __version__,
            "tasks": [{"name": t.name, "kind": t.kind, "labels": list(t.label_names)} for t in heads],
            "pooling": pooling,
            "text_prefix": text_prefix,
            "max_length": max_length,
            "thresholds": {t.name: dict.fromkeys(t.label_names, 0.5) for t in heads if t.kind == "multi"},
            "rule_prior": list(prior),
        }
        model = MultiTaskModel(encoder, {t.name: len(t.label_names) for t in heads}, pooling=pooling, dropout=dropout,
                               prior=prior)
        return cls(model, tokenizer, meta, rules if prior else None)

    def encode(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        prefix = self.meta["text_prefix"]
        return self.tokenizer(
            [prefix + normalize(t) for t in texts], padding=True, truncation=True,
            max_length=self.meta["max_length"], return_tensors="pt",
        )

    def prior(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """Per prior head an (N, K) array: log rule probabilities (single-choice) or each topic's rule score
        minus its threshold (multi-choice). Empty for a model without a rule prior."""
        names = self.meta.get("rule_prior") or []
        if not names:
            return {}
        if self.rules is None:
            raise ModelError("this model adds a rule prior to its heads but was given no rules")
        blocks = self.rules.predict(texts)
        out = {}
        for task in self.tasks:
            name, labels = task["name"], task["labels"]
            if name not in names:
                continue
            scores = np.array([[b[name]["scores"][label] for label in labels] for b in blocks], dtype=np.float32)
            scores = scores.reshape(len(blocks), len(labels))
            if task["kind"] == "single":
                out[name] = np.log(np.maximum(scores, _PRIOR_FLOOR))
            else:
                thresholds = self.rules.topic_thresholds
                out[name] = scores - np.array([thresholds[label] for label in labels], dtype=np.float32)
        return out

    @torch.inference_mode()
    def logits(self, batch: dict[str, torch.Tensor], prior: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Head logits of one encoded batch (``prior``: the batch's rows of ``self.prior``)."""
        out = self.model(batch["input_ids"], batch["attention_mask"],
                         {name: torch.from_numpy(p) for name, p in prior.items()} or None)
        return {name: value.numpy() for name, value in out.items()}

    def predict_proba(self, texts: Sequence[str], *, batch_size: int = 64) -> dict[str, np.ndarray]:
        """Per task an (N, K) array: softmax for single-choice tasks, sigmoid per label for multi-choice."""
        if self.model is not None:
            self.model.eval()
        prior = self.prior(texts)
        chunks: dict[str, list[np.ndarray]] = {t["name"]: [] for t in self.tasks}
        for start in range(0, len(texts), batch_size):
            end = start + batch_size
            logits = self.logits(self.encode(texts[start:end]), {name: p[start:end] for name, p in prior.items()})
            for task in self.tasks:
                out = logits[task["name"]]
                if task["kind"] == "single":
                    e = np.exp(out - out.max(1, keepdims=True))
                    chunks[task["name"]].append(e / e.sum(1, keepdims=True))
                else:
                    chunks[task["name"]].append(1 / (1 + np.exp(-out)))
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
        if self.rules is not None:
            self.rules.save(folder / RULES_DIR)
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
        prior = meta.get("rule_prior") or []
        model = MultiTaskModel(encoder, {t["name"]: len(t["labels"]) for t in meta["tasks"]}, pooling=meta["pooling"],
                               prior=dict.fromkeys(prior, 0.0))
        model.load_state_dict(_read_weights(folder, allow_pickle))
        model.eval()
        return cls(model, tokenizer, meta, load_rules(folder) if prior else None)


def load_rules(folder: Path) -> RulePreannotator:
    """The rules a rule-prior model was trained with, from its folder."""
    if not (folder / RULES_DIR).is_dir():
        raise ModelError(f"{folder}: the model adds a rule prior but its {RULES_DIR}/ folder is missing")
    return RulePreannotator.load(folder / RULES_DIR)


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
