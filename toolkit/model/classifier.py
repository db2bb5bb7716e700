"""The classifier: a pretrained encoder, masked-mean or CLS pooling, and one head per task.

Inference lives here, apart from training, because predict, serve and the ONNX runtime use it without
the trainer. ``Classifier`` holds what every runtime shares (tokenizer, label metadata, rule prior,
probabilities to labels); ``TextClassifier`` runs the forward pass in PyTorch, ``OnnxClassifier``
(``toolkit.predict.onnx``) in ONNX Runtime.

A saved folder is the setfit pattern, body + head: the encoder as a standard Hugging Face folder
(``config.json`` with ``task_id2label``, ``model.safetensors``, the tokenizer), which
``transformers.AutoModel.from_pretrained(folder)`` loads with every weight, and beside it the heads
(``heads.safetensors``), ``toolkit_model.json`` (tasks, pooling, text prefix, max length, topic
thresholds, encoder origin), the rules of a rule-prior model (``rules/``) and the model card
(``README.md``). ``TextClassifier.load(folder)`` restores all of it.

With a rule prior (``rule_prior: true`` in the training config) a head's logits are
``head(pooled) + weight * prior``: the prior is the log of the rule pre-annotator's probabilities for a
single-choice task and its topic score minus the topic's threshold for a multi-choice one. Heads start at
zero and the per-label weights at values under which the untrained model decides exactly as the rules do,
so training learns where the reviewed labels depart from the rules instead of relearning their keywords
from a few hundred sentences.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from toolkit import __version__
from toolkit.annotate import RulePreannotator
from toolkit.errors import ModelError
from toolkit.ingest.normalize import normalize
from toolkit.labels import LabelSchema
from toolkit.model.device import Precision, autocast, resolve_device

FORMAT_VERSION = 2
META_FILE = "toolkit_model.json"
ENCODER_WEIGHTS = "model.safetensors"
HEADS_FILE = "heads.safetensors"
RULES_DIR = "rules"
CARD_FILE = "README.md"
_PICKLE_FILES = ("pytorch_model.bin",)
# Initial prior weights: log-probabilities pass through unchanged; a topic score 0.25 past its threshold
# gives a logit of 2 (probability 0.88), a score of 0 one of -4 when the threshold is 0.5.
PRIOR_WEIGHT = {"single": 1.0, "multi": 8.0}
_PRIOR_FLOOR = 1e-6


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
        """What sits on top of the encoder (trained with the head learning rate, saved in ``heads.safetensors``)."""
        return [*self.heads.parameters(), *self.prior_weights.parameters()]

    def head_state(self) -> dict[str, torch.Tensor]:
        return {k: v for k, v in self.state_dict().items() if not k.startswith("encoder.")}

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                prior: dict[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        if self.pooling == "cls":
            pooled = hidden[:, 0]
        else:
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        pooled = self.dropout(pooled)
        logits = {name: head(pooled.to(head.weight.dtype)) for name, head in self.heads.items()}
        if len(self.prior_weights):
            if prior is None:
                raise ValueError("this model adds a rule prior to its heads; pass prior= (TextClassifier does)")
            for name, weight in self.prior_weights.items():
                logits[name] = logits[name] + weight * prior[name]
        return logits


class Classifier:
    """Tokenizer, label metadata and rules; turns a runtime's logits into probabilities and label names.

    Subclasses give ``logits`` (one encoded batch to per-task numpy logits) and ``load``.
    """

    def __init__(self, tokenizer: Any, meta: dict[str, Any], rules: RulePreannotator | None = None) -> None:
        self.tokenizer = tokenizer
        self.meta = meta
        self.rules = rules

    @property
    def tasks(self) -> list[dict[str, Any]]:
        return self.meta["tasks"]

    @property
    def task_names(self) -> list[str]:
        return [t["name"] for t in self.tasks]

    @property
    def model_version(self) -> str:
        return self.meta.get("model_version", "model")

    def encode(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        prefix = self.meta["text_prefix"]
        return self.tokenizer(
            [prefix + normalize(t) for t in texts], padding=True, truncation=True,
            max_length=self.meta["max_length"], return_tensors="pt", return_token_type_ids=False,
        )

    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of each text (prefix added, truncated to ``max_length``), unpadded."""
        prefix = self.meta["text_prefix"]
        return self.tokenizer([prefix + normalize(t) for t in texts], truncation=True, max_length=self.meta["max_length"],
                              return_token_type_ids=False, return_attention_mask=False)["input_ids"]

    def pad(self, ids: Sequence[Sequence[int]]) -> dict[str, torch.Tensor]:
        """A batch as ``encode`` gives it: ids padded on the right to the longest, and the attention mask."""
        width = max(map(len, ids), default=0)
        input_ids = np.full((len(ids), width), self.tokenizer.pad_token_id, dtype=np.int64)
        mask = np.zeros((len(ids), width), dtype=np.int64)
        for row, seq in enumerate(ids):
            input_ids[row, :len(seq)] = seq
            mask[row, :len(seq)] = 1
        return {"input_ids": torch.from_numpy(input_ids), "attention_mask": torch.from_numpy(mask)}

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

    def logits(self, batch: dict[str, torch.Tensor], prior: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Head logits of one encoded batch (``prior``: the batch's rows of ``self.prior``)."""
        raise NotImplementedError

    def predict_proba(self, texts: Sequence[str], *, batch_size: int = 64, batch_tokens: int | None = None,
                      articles: Sequence[str] | None = None) -> dict[str, np.ndarray]:
        """Per task an (N, K) array in input order: softmax for single-choice tasks, sigmoid per label for
        multi-choice.

        The texts are tokenised once, sorted by token count and cut into batches of at most ``batch_size``
        texts and, with ``batch_tokens``, at most that many tokens once padded, so each batch pads only to its
        own longest text. ``articles`` (each text's article id) lets a model with ``topic_context`` give its
        topic decisions the article's context; without it every text stands alone."""
        prior = self.prior(texts)
        ids = self.tokenize(texts)
        order = np.argsort([len(x) for x in ids], kind="stable")
        logits = {t["name"]: np.zeros((len(texts), len(t["labels"]))) for t in self.tasks}
        for start, end in batch_bounds([len(ids[i]) for i in order], batch_size, batch_tokens):
            rows = order[start:end]
            batch = self.logits(self.pad([ids[i] for i in rows]), {name: p[rows] for name, p in prior.items()})
            for name, z in logits.items():
                z[rows] = batch[name]
        out = {}
        for task in self.tasks:
            z = logits[task["name"]]
            if task["kind"] == "single":
                e = np.exp(z - z.max(1, keepdims=True))
                out[task["name"]] = e / e.sum(1, keepdims=True)
            else:
                context = self.meta.get("topic_context", 0.0)
                if context and articles is not None:
                    z = article_context(z, articles, context)
                out[task["name"]] = 1 / (1 + np.exp(-z))
        return out

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


def batch_bounds(lengths: Sequence[int], batch_size: int, batch_tokens: int | None) -> list[tuple[int, int]]:
    """(start, end) of consecutive batches of at most ``batch_size`` items and, with ``batch_tokens``, at most
    that many tokens once each batch is padded to its longest item.

    A token budget keeps a batch's activations near the CPU's caches: on e5-small the encoder ran at 59 % of
    the matmul peak with 64 texts of 96 tokens and at 71 % with 16 (``benchmarks/predict_scale.py``)."""
    bounds, start, longest = [], 0, 0
    for i, n in enumerate(lengths):
        longest = max(longest, n)
        count = i - start + 1
        if i > start and (count > batch_size or (batch_tokens and count * longest > batch_tokens)):
            bounds.append((start, i))
            start, longest = i, n
    if lengths:
        bounds.append((start, len(lengths)))
    return bounds


def article_context(logits: np.ndarray, articles: Sequence[str], weight: float) -> np.ndarray:
    """Each row's logits moved ``weight`` of the way to its article's mean logits.

    Reviewers label topics by the article (an EV article's sentences are mostly ``ev``). The heads are
    linear, so the article's mean logits are the head applied to the article's mean embedding: this gives the
    topic head the article's context without training a second input. A row with an empty id stands alone."""
    if len(articles) != len(logits):
        raise ValueError(f"{len(articles)} article ids for {len(logits)} texts")
    out = logits.copy()
    index: dict[str, list[int]] = {}
    for i, article in enumerate(articles):
        if article:
            index.setdefault(article, []).append(i)
    for rows in index.values():
        out[rows] = (1 - weight) * logits[rows] + weight * logits[rows].mean(0)
    return out


class TextClassifier(Classifier):
    """The PyTorch runtime: a ``MultiTaskModel`` on a device (``to``), optionally under autocast."""

    def __init__(self, model: MultiTaskModel, tokenizer: Any, meta: dict[str, Any],
                 rules: RulePreannotator | None = None) -> None:
        super().__init__(tokenizer, meta, rules)
        self.model = model
        self.device = torch.device("cpu")
        self.precision: Precision = "fp32"

    def to(self, device: str | torch.device = "auto", precision: Precision = "fp32") -> TextClassifier:
        """Move the model to ``device`` (``auto``: CUDA, else MPS, else CPU); ``precision`` bf16/fp16 runs the
        forward pass under autocast on CUDA (ignored elsewhere)."""
        self.device = resolve_device(device)
        self.precision = precision
        self.model.to(self.device)
        return self

    @classmethod
    def create(
        cls, schema: LabelSchema, tasks: Sequence[str], *, encoder: nn.Module, tokenizer: Any, pooling: str,
        text_prefix: str, max_length: int, dropout: float, rules: RulePreannotator | None = None,
    ) -> TextClassifier:
        """A new classifier; with ``rules`` every head the rules also predict gets a rule prior."""
        heads = [t for t in schema.tasks if t.name in tasks]
        prior = {t.name: PRIOR_WEIGHT[t.kind] for t in heads if t.name in rules.TASKS} if rules else {}
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

    def forward(self, batch: dict[str, torch.Tensor], prior: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The model's logits for one batch, with its tensors moved to the model's device (training uses this)."""
        with autocast(self.device, self.precision):
            return self.model(batch["input_ids"].to(self.device), batch["attention_mask"].to(self.device),
                              {name: p.to(self.device) for name, p in prior.items()} or None)

    @torch.inference_mode()
    def logits(self, batch: dict[str, torch.Tensor], prior: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.model.eval()
        out = self.forward(batch, {name: torch.from_numpy(p) for name, p in prior.items()})
        return {name: value.float().cpu().numpy() for name, value in out.items()}

    def weights_digest(self) -> str:
        """sha256 over the sorted parameter names and values: the same weights always give the same version."""
        digest = hashlib.sha256()
        state = self.model.state_dict()
        for key in sorted(state):
            digest.update(key.encode())
            digest.update(state[key].detach().float().cpu().contiguous().numpy().tobytes())
        return digest.hexdigest()

    def save(self, folder: str | Path, *, card: str | None = None, extra: dict[str, Any] | None = None) -> Path:
        """Write the folder (see the module docstring); ``card`` becomes README.md, ``extra`` JSON files."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.meta["model_version"] = f"{self.meta.get('model_name', 'model')}-{self.weights_digest()[:12]}"
        encoder = self.model.encoder
        encoder.config.task_id2label = {t["name"]: dict(enumerate(t["labels"])) for t in self.tasks}
        if len(self.tasks) == 1 and self.tasks[0]["kind"] == "single":  # the standard field, where one head has it
            encoder.config.id2label = dict(enumerate(self.tasks[0]["labels"]))
        with _quiet_transformers():
            encoder.save_pretrained(folder)
        heads = {k: v.detach().float().cpu().contiguous() for k, v in self.model.head_state().items()}
        save_file(heads, str(folder / HEADS_FILE), metadata={"format": "pt", "toolkit": __version__})
        self.tokenizer.save_pretrained(folder)
        if self.rules is not None:
            self.rules.save(folder / RULES_DIR)
        (folder / META_FILE).write_text(json.dumps(self.meta, ensure_ascii=False, indent=2), encoding="utf-8")
        for name, data in (extra or {}).items():
            (folder / name).write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
        if card is not None:
            (folder / CARD_FILE).write_text(card, encoding="utf-8")
        return folder

    @classmethod
    def load(cls, folder: str | Path, *, allow_pickle: bool = False, device: str = "cpu",
             precision: Precision = "fp32") -> TextClassifier:
        """Restore a saved folder. Pickle weight files are refused unless ``allow_pickle`` (they can run code)."""
        from transformers import AutoModel, AutoTokenizer

        folder = Path(folder)
        meta = read_meta(folder)
        _check_weights(folder, allow_pickle)
        try:
            tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
            with _quiet_transformers():
                encoder = AutoModel.from_pretrained(folder, local_files_only=True, dtype=torch.float32,
                                                    use_safetensors=not allow_pickle or None)
        except (OSError, ValueError, RuntimeError) as exc:
            raise ModelError(f"{folder}: cannot read the encoder ({exc})") from None
        prior = meta.get("rule_prior") or []
        model = MultiTaskModel(encoder, {t["name"]: len(t["labels"]) for t in meta["tasks"]}, pooling=meta["pooling"],
                               prior=dict.fromkeys(prior, 0.0))
        try:
            heads = load_file(str(folder / HEADS_FILE))
        except Exception as exc:  # safetensors raises its own error types for missing, truncated or garbled files
            raise ModelError(f"{folder / HEADS_FILE}: corrupt or missing head weights ({exc})") from None
        missing = [k for k in model.head_state() if k not in heads]
        if missing:
            raise ModelError(f"{folder / HEADS_FILE}: no weights for {', '.join(missing)}")
        model.load_state_dict(heads, strict=False)
        model.eval()
        return cls(model, tokenizer, meta, load_rules(folder) if prior else None).to(device, precision)


def read_meta(folder: Path) -> dict[str, Any]:
    """``toolkit_model.json`` of a model folder, with clear errors for a missing, foreign or older folder."""
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
        raise ModelError(f"{folder}: model format {meta.get('format_version')!r}, this toolkit reads {FORMAT_VERSION}; "
                         "retrain it with this version")
    return meta


def load_rules(folder: Path) -> RulePreannotator:
    """The rules a rule-prior model was trained with, from its folder."""
    if not (folder / RULES_DIR).is_dir():
        raise ModelError(f"{folder}: the model adds a rule prior but its {RULES_DIR}/ folder is missing")
    return RulePreannotator.load(folder / RULES_DIR)


def _check_weights(folder: Path, allow_pickle: bool) -> None:
    """Refuse pickle weights unless allowed, and report a corrupt safetensors file by name."""
    weights = folder / ENCODER_WEIGHTS
    if weights.is_file():
        try:
            with safe_open(str(weights), framework="pt") as fh:
                fh.keys()
        except Exception as exc:  # safetensors raises its own error types for truncated or garbled files
            raise ModelError(f"{weights}: corrupt weights ({exc})") from None
        return
    pickled = next((folder / n for n in _PICKLE_FILES if (folder / n).is_file()), None)
    if pickled is None:
        raise ModelError(f"{folder}: no weights ({ENCODER_WEIGHTS} is missing)")
    if not allow_pickle:
        raise ModelError(
            f"{pickled}: pickle weights can run arbitrary code when loaded; refusing. "
            "Convert to safetensors, or pass allow_pickle=True (--allow-pickle) if you trust the source"
        )


@contextlib.contextmanager
def _quiet_transformers() -> Any:
    """No per-weight progress bar when a model folder loads (predict and serve load one per run)."""
    from transformers.utils import logging as hf_logging

    enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if enabled:
            hf_logging.enable_progress_bar()
