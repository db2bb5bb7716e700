"""Training settings: one YAML file validated with pydantic, plus dotted command-line overrides."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from toolkit.errors import ConfigError

Format = Literal["dataset", "reviewed", "chnsenticorp", "finfe", "weak"]


class Source(BaseModel):
    """Where examples come from. ``dataset`` reads a split of a saved DatasetDict (``toolkit dataset build``);
    ``reviewed`` reads reviewed records; ``chnsenticorp`` (TSV ``label\\ttext_a``) and ``finfe`` (JSON
    ``[text, "0"|"0.5"|"1"]``) are sentiment-only, their stance and topics masked. ``weak`` labels unlabelled
    text (one per line in .txt, or records with ``text``) with the rule pre-annotator's decisions that reach
    ``min_confidence``; a reviewed label of the same sentence wins over them. ``weight`` resamples the
    source (0.5 keeps half, 2 repeats it); ``limit`` keeps the first N."""

    model_config = ConfigDict(extra="forbid")

    format: Format
    path: Path
    split: str | None = None
    weight: float = Field(1.0, gt=0)
    limit: int | None = Field(None, gt=0)
    min_confidence: float = Field(0.8, gt=0.5, le=1.0, description="weak: the rules' probability a label needs")


class DataConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    train: list[Source] = Field(min_length=1)
    dev: list[Source] = Field(default_factory=list)
    test: list[Source] = Field(default_factory=list)


class RandomEncoder(BaseModel):
    """A small randomly initialised BERT (tests, smoke runs): no download, vocabulary from the training texts."""

    model_config = ConfigDict(extra="forbid")

    hidden_size: int = 32
    num_hidden_layers: int = 2
    num_attention_heads: int = 2
    intermediate_size: int = 64
    max_position_embeddings: int = 512


class TrainConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    model: str | None = Field(None, description="a local folder, a short id built offline (e5-small-zh) or a hub id")
    model_source: Literal["local", "hub"] = Field(
        "local", description="for a short id: build it from its pip package (local) or download its hub id (hub)")
    device: str = Field("auto", description="auto (CUDA, else MPS, else CPU), cpu, cuda, cuda:N or mps")
    precision: Literal["fp32", "bf16", "fp16"] = Field("fp32", description="mixed precision on CUDA (autocast)")
    random_init: RandomEncoder | None = None
    pooling: Literal["mean", "cls"] = "mean"
    text_prefix: str = ""
    max_length: int = Field(128, ge=8, le=512)
    batch_size: int = Field(16, ge=1)
    eval_batch_size: int = Field(64, ge=1)
    group_by_length: bool = Field(False, description="batch texts of similar length together (less padding)")
    lr: float = Field(3e-5, gt=0)
    head_lr: float | None = Field(None, gt=0, description="learning rate of the heads (default: lr)")
    epochs: int = Field(3, ge=1)
    max_steps: int | None = Field(None, ge=1, description="stop after this many optimiser steps")
    warmup_ratio: float = Field(0.1, ge=0, lt=1)
    weight_decay: float = Field(0.01, ge=0)
    grad_accumulation: int = Field(1, ge=1)
    dropout: float = Field(0.1, ge=0, lt=1)
    seed: int = 13
    class_weights: Literal["none", "balanced"] = Field(
        "none", description="balanced: weight classes (and each topic's present/absent) by inverse frequency")
    early_stopping_patience: int | None = Field(None, ge=1)
    checkpoint_every: int | None = Field(
        None, ge=1, description="also checkpoint every N optimiser steps, so a long epoch can resume mid-way")
    threshold_shrinkage: float = Field(
        0.0, ge=0, description="pseudo-positives pulling each dev-tuned topic threshold toward 0.5 (0: none)")
    topic_context: float = Field(
        0.0, ge=0, le=1, description="how far each sentence's topic logits move toward its article's mean (0: none)")
    tasks: list[str] | None = Field(None, description="heads to train (default: every task of the schema)")
    rule_prior: bool = Field(False, description="start each head from the rule pre-annotator's scores")
    rules: Path | None = Field(None, description="rules config for the prior and weak labels (default: built-in)")
    lexicon: Path | None = Field(None, description="lexicon folder for the prior and weak labels (default: labels/lexicon)")
    data: DataConfig | None = Field(None, description="files to read; the Python API can pass records instead")

    @model_validator(mode="after")
    def _one_encoder(self) -> TrainConfig:
        if (self.model is None) == (self.random_init is None):
            raise ValueError("give exactly one of `model` (pretrained path or hub id) and `random_init`")
        weak = self.data is not None and any(s.format == "weak" for s in self.data.train)
        if (self.rules or self.lexicon) and not (self.rule_prior or weak):
            raise ValueError("`rules` and `lexicon` set the rule prior and weak labels; add `rule_prior: true` or a "
                             "`weak` source, or leave them out")
        return self


def _set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    target = data
    for key in keys[:-1]:
        target = target.setdefault(key, {})
        if not isinstance(target, dict):
            raise ConfigError(f"override {dotted!r}: {key!r} is not a section")
    target[keys[-1]] = value


def parse_overrides(pairs: list[str]) -> dict[str, str]:
    """``["lr=2e-5", "data.train=…"]`` (``--set`` values) as ``{"lr": "2e-5", …}`` for ``load_train_config``."""
    out = {}
    for pair in pairs:
        if "=" not in pair:
            raise ConfigError(f"override {pair!r} must look like key.path=value")
        key, value = pair.split("=", 1)
        out[key.removeprefix("--")] = value
    return out


def with_reviewed(config: TrainConfig, path: Path) -> TrainConfig:
    """A copy of ``config`` that also trains on the reviewed records in ``path`` (a pull, the review store)."""
    config = config.model_copy(deep=True)
    source = Source(format="reviewed", path=path)
    if config.data is None:
        config.data = DataConfig(train=[source])
    else:
        config.data.train.append(source)
    return config


def load_train_config(path: str | Path, overrides: dict[str, str] | None = None) -> TrainConfig:
    """Read a YAML config; ``overrides`` like ``{"training.lr": "2e-5"}`` are parsed as YAML values.

    Relative paths in ``data`` are resolved against the config file's folder's parent (the repo root for
    files in ``configs/``) when they exist there, else against the working directory.
    """
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read config: {exc}") from None
    for dotted, raw in (overrides or {}).items():
        _set_dotted(data, dotted, yaml.safe_load(raw))
    try:
        config = TrainConfig.model_validate(data)
    except ValidationError as exc:
        lines = [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
        raise ConfigError(f"{path}: invalid training config:\n  " + "\n  ".join(lines)) from None
    base = path.resolve().parent.parent

    def resolve(value: Path) -> Path:
        return base / value if not value.is_absolute() and not value.exists() and (base / value).exists() else value

    for split in (config.data.train, config.data.dev, config.data.test) if config.data else ():
        for source in split:
            source.path = resolve(source.path)
    if config.model:
        config.model = str(resolve(Path(config.model)))
    config.rules = resolve(config.rules) if config.rules else None
    config.lexicon = resolve(config.lexicon) if config.lexicon else None
    return config
