"""The training loop (setfit-style: the model owns predict/save/load, the trainer owns the loop).

Per epoch: shuffled batches (seeded per epoch, so a resumed run sees the same order; optionally grouped by
length so short texts do not pad to the longest in a random batch), a loss that skips the
fields a record lacks, a dev evaluation, a checkpoint (model, optimiser, scheduler, RNG) in
``<out>/checkpoint`` for ``--resume``, and ``model-best`` when dev macro-F1 improves. ``model-final`` is
always written at the end. Topic thresholds are tuned on dev before a model is saved.
"""

from __future__ import annotations

import functools
import json
import random
import shutil
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from rich.progress import TextColumn

from toolkit.annotate import RulePreannotator, RulesConfig
from toolkit.errors import ConfigError, InputError
from toolkit.evaluate.metrics import multi_label_report, single_label_report
from toolkit.labels import LabelSchema, load_schema
from toolkit.progress import progress_bar
from toolkit.train.card import model_card
from toolkit.train.config import TrainConfig
from toolkit.train.data import MISSING, distribution, in_memory_examples, prefer_reviewed, source_examples
from toolkit.model import TextClassifier, load_encoder, resolve_device
from toolkit.model.classifier import CARD_FILE
from toolkit.model.encoders import encoder_origin, random_encoder, resolve_encoder

CHECKPOINT = "checkpoint"
THRESHOLD_GRID = np.round(np.arange(0.05, 0.96, 0.05), 2)


def masked_loss(
    logits: dict[str, torch.Tensor], batch: dict[str, torch.Tensor], tasks: Sequence[dict[str, Any]],
    class_weights: dict[str, torch.Tensor] | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Sum of per-task losses over the records that have that task's label.

    Single-choice: cross-entropy with -1 targets ignored. Multi-choice: per-label BCE averaged over labels,
    then over records whose mask is 1. A task with no labelled record in the batch adds nothing.
    ``class_weights`` holds per class weights for a single-choice task and a ``(2, labels)`` tensor
    (weight of a negative, weight of a positive, per label) for a multi-choice one.
    """
    device = next(iter(logits.values())).device
    total = torch.zeros((), dtype=torch.float32, device=device)
    parts: dict[str, float] = {}
    for task in tasks:
        name, out = task["name"], logits[task["name"]].float()
        if task["kind"] == "single":
            target = batch[name].to(device)
            if not (target != MISSING).any():
                continue
            weight = class_weights[name].to(device) if class_weights else None
            loss = F.cross_entropy(out, target, weight=weight, ignore_index=MISSING)
        else:
            mask = batch[f"{name}_mask"].float().to(device)
            if mask.sum() == 0:
                continue
            target = batch[name].to(device)
            per_label = F.binary_cross_entropy_with_logits(out, target, reduction="none")
            if class_weights and name in class_weights:
                negative, positive = class_weights[name].to(device)
                per_label = per_label * torch.where(target > 0.5, positive, negative)
            loss = (per_label.mean(-1) * mask).sum() / mask.sum()
        total = total + loss
        parts[name] = float(loss.detach())
    return total, parts


def balanced_weights(rows: Sequence[dict[str, Any]], tasks: Sequence[dict[str, Any]]) -> dict[str, torch.Tensor]:
    """scikit-learn's ``balanced`` weights, n / (classes * count), per task, for ``masked_loss``.

    A rare label then counts as much as a common one. Each topic of a multi-choice task is its own
    present/absent problem (a ``(2, labels)`` tensor); a topic always or never present keeps weight 1.
    """
    weights = {}
    for task in tasks:
        name = task["name"]
        if task["kind"] == "single":
            counts = np.bincount([r[name] for r in rows if r[name] != MISSING], minlength=len(task["labels"])).astype(float)
            w = np.where(counts > 0, counts.sum() / (len(counts) * np.maximum(counts, 1)), 0.0)
        else:
            labelled = np.array([r[name] for r in rows if r[f"{name}_mask"]], dtype=float).reshape(-1, len(task["labels"]))
            positives = labelled.sum(0)
            counts = np.stack([len(labelled) - positives, positives])
            w = np.where(counts.min(0) > 0, len(labelled) / (2 * np.maximum(counts, 1)), 1.0)
        weights[name] = torch.tensor(w, dtype=torch.float32)
    return weights


def epoch_order(lengths: Sequence[int], batch_size: int, seed: int, *, group_by_length: bool = False) -> list[int]:
    """The seeded order of one epoch's examples; consecutive ``batch_size`` chunks of it are the batches.

    With ``group_by_length`` (as transformers' LengthGroupedSampler) the shuffled examples are cut into
    mega-batches of 50 batches, each sorted by length, so a batch pads to a length close to its members'
    own; the batches are then shuffled, the one short batch (if any) staying last.
    """
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(lengths), generator=generator).tolist()
    if not group_by_length:
        return order
    mega = batch_size * 50
    ranked = [i for start in range(0, len(order), mega)
              for i in sorted(order[start : start + mega], key=lambda j: -lengths[j])]
    batches = [ranked[start : start + batch_size] for start in range(0, len(ranked), batch_size)]
    tail = [batches.pop()] if len(batches[-1]) < batch_size else []
    shuffled = [batches[b] for b in torch.randperm(len(batches), generator=generator).tolist()] + tail
    return [i for batch in shuffled for i in batch]


def tune_thresholds(probs: np.ndarray, truth: np.ndarray, labels: Sequence[str], *, shrinkage: float = 0.0) -> dict[str, float]:
    """Per label, the threshold on the grid 0.05…0.95 with the best F1 on (probs, truth); 0.5 without positives.

    Ties go to the threshold closest to 0.5. ``shrinkage`` k pulls each tuned threshold toward 0.5 by the
    weight of k pseudo-positives against the label's n dev positives, ``0.5 + (t - 0.5) * n / (n + k)``: a
    threshold tuned on three positives moves little, one tuned on a hundred keeps its value.
    """
    out = {}
    for j, label in enumerate(labels):
        y = truth[:, j] > 0.5
        if not y.any():
            out[label] = 0.5
            continue
        best = max(
            THRESHOLD_GRID,
            key=lambda t: (_f1(y, probs[:, j] >= t), -abs(t - 0.5)),
        )
        n = float(y.sum())
        out[label] = round(0.5 + (float(best) - 0.5) * n / (n + shrinkage), 4)
    return out


def _f1(y: np.ndarray, pred: np.ndarray) -> float:
    tp = float((y & pred).sum())
    return 2 * tp / (y.sum() + pred.sum()) if (y.sum() + pred.sum()) else 0.0


def peak_memory_mb() -> float | None:
    """The process's peak resident memory (Unix; None on Windows, which has no ``resource`` module), or the
    CUDA allocator's peak where a GPU was used."""
    if torch.cuda.is_available() and torch.cuda.max_memory_allocated():
        return round(torch.cuda.max_memory_allocated() / 2**20, 1)
    try:
        import resource
    except ImportError:
        return None
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


@dataclass
class TrainResult:
    out_dir: Path
    best_dir: Path | None
    final_dir: Path
    history: list[dict[str, Any]] = field(default_factory=list)
    best_score: float | None = None
    test_metrics: dict[str, dict[str, Any]] = field(default_factory=dict)  # model folder name -> test figures


class Trainer:
    """Fits a :class:`TextClassifier` from a :class:`TrainConfig`; ``train()`` writes the model folders."""

    def __init__(self, config: TrainConfig, out_dir: str | Path, *, train_dataset: Any = None, eval_dataset: Any = None,
                 schema: LabelSchema | None = None, config_path: str | None = None, show_progress: bool = True) -> None:
        """``train_dataset`` and ``eval_dataset`` (as setfit's trainer takes them) replace the config's ``data``:
        reviewed records (dicts with ``text`` and ``labels`` or ``annotations``) or a ``datasets.Dataset``; a
        ``DatasetDict`` (``toolkit dataset build``) as ``train_dataset`` gives both from its train and dev splits."""
        self.config = config
        self.out_dir = Path(out_dir)
        self.schema = schema or load_schema()
        self.config_path = config_path
        self.show_progress = show_progress
        if hasattr(train_dataset, "keys") and "train" in train_dataset:  # a DatasetDict
            train_dataset, eval_dataset = train_dataset["train"], train_dataset.get("dev", eval_dataset)
        self._given = {split: in_memory_examples(data, self.schema)
                       for split, data in (("train", train_dataset), ("dev", eval_dataset)) if data is not None}
        if config.data is None and "train" not in self._given:
            raise ConfigError("no training data: give `data` in the config or pass train_dataset=")

    # -- data ---------------------------------------------------------------------------------------
    def _examples(self, split: str) -> list[dict[str, Any]]:
        if split in self._given or self.config.data is None:
            return prefer_reviewed(self._given.get(split, []))
        rows: list[dict[str, Any]] = []
        for i, source in enumerate(getattr(self.config.data, split)):
            rules = self.rules if source.format == "weak" else None
            rows.extend(source_examples(source, self.schema, seed=self.config.seed + i, rules=rules))
        return prefer_reviewed(rows)

    @functools.cached_property
    def rules(self) -> RulePreannotator:
        """The rules of the config (its rules file and lexicon), built once for the prior and for weak labels."""
        cfg = self.config
        return RulePreannotator(self.schema, cfg.lexicon, RulesConfig.from_file(cfg.rules) if cfg.rules else None)

    def _batches(self, clf: TextClassifier, rows: list[dict[str, Any]], order: Sequence[int], size: int) -> Iterator[dict[str, Any]]:
        for start in range(0, len(order), size):
            chunk = [rows[i] for i in order[start : start + size]]
            texts = [r["text"] for r in chunk]
            batch = dict(clf.encode(texts))
            batch["prior"] = {name: torch.from_numpy(p) for name, p in clf.prior(texts).items()}
            for task in clf.tasks:
                name = task["name"]
                if task["kind"] == "single":
                    batch[name] = torch.tensor([r[name] for r in chunk], dtype=torch.long)
                else:
                    batch[name] = torch.tensor([r[name] for r in chunk], dtype=torch.float32)
                    batch[f"{name}_mask"] = torch.tensor([r[f"{name}_mask"] for r in chunk], dtype=torch.long)
            yield batch

    # -- evaluation -----------------------------------------------------------------------------------
    def evaluate(self, clf: TextClassifier, rows: list[dict[str, Any]], *, tune: bool = True) -> dict[str, Any]:
        """Macro-F1 per task (multi-choice: over the labels in use) and their mean (``score``).

        On dev (``tune``) topic thresholds are tuned on ``rows`` first, so each epoch is scored as the model
        saved from it would decide (scoring with thresholds left from an earlier epoch picked epochs by stale
        cut-offs). On test they are not: the thresholds are the dev-tuned ones the model keeps.
        """
        if not rows:
            return {}
        probs = self._predict_proba(clf, rows)
        if tune:
            self._tune(clf, rows, probs)
        decided = clf.decide(probs)
        metrics: dict[str, Any] = {}
        scores = []
        for task in clf.tasks:
            name, labels = task["name"], task["labels"]
            if task["kind"] == "single":
                keep = [i for i, r in enumerate(rows) if r[name] != MISSING]
                if not keep:
                    continue
                report = single_label_report([labels[rows[i][name]] for i in keep],
                                             [decided[name][i] for i in keep], labels=labels)
                metrics[name] = report["macro_f1"]
            else:
                keep = [i for i, r in enumerate(rows) if r[f"{name}_mask"]]
                if not keep:
                    continue
                truth = [[lab for lab, v in zip(labels, rows[i][name]) if v] for i in keep]
                metrics[name] = multi_label_report(truth, [decided[name][i] for i in keep], labels=labels)["macro_f1"]
            scores.append(metrics[name])
        metrics["score"] = float(np.mean(scores)) if scores else 0.0
        return metrics

    def _predict_proba(self, clf: TextClassifier, rows: list[dict[str, Any]]) -> dict[str, np.ndarray]:
        return clf.predict_proba([r["text"] for r in rows], batch_size=self.config.eval_batch_size,
                                 articles=[r["article_id"] for r in rows])

    def _tune(self, clf: TextClassifier, dev: list[dict[str, Any]], probs: dict[str, np.ndarray] | None = None) -> None:
        """Set each multi-choice task's thresholds from ``dev`` (``probs``: the model's on ``dev``, if known)."""
        for task in clf.tasks:
            if task["kind"] != "multi":
                continue
            name = task["name"]
            keep = [i for i, r in enumerate(dev) if r[f"{name}_mask"]]
            if not keep:
                continue
            if probs is None:
                probs = self._predict_proba(clf, dev)
            truth = np.array([dev[i][name] for i in keep])
            clf.meta["thresholds"][name] = tune_thresholds(probs[name][keep], truth, task["labels"],
                                                           shrinkage=self.config.threshold_shrinkage)

    # -- model ------------------------------------------------------------------------------------------
    def _new_classifier(self, train: list[dict[str, Any]]) -> TextClassifier:
        cfg = self.config
        tasks = cfg.tasks or list(self.schema.task_names)
        unknown = sorted(set(tasks) - set(self.schema.task_names))
        if unknown:
            raise ConfigError(f"tasks names unknown tasks: {', '.join(unknown)}")
        torch.manual_seed(cfg.seed)
        if cfg.model:
            encoder, tokenizer = load_encoder(cfg.model, cfg.model_source)
        else:
            encoder, tokenizer = random_encoder(cfg.random_init, (r["text"] for r in train), cfg.max_length)
        rules = self.rules if cfg.rule_prior else None
        clf = TextClassifier.create(self.schema, tasks, encoder=encoder, tokenizer=tokenizer, pooling=cfg.pooling,
                                    text_prefix=cfg.text_prefix, max_length=cfg.max_length, dropout=cfg.dropout,
                                    rules=rules)
        clf.meta["topic_context"] = cfg.topic_context
        clf.meta["model_name"] = Path(cfg.model).name if cfg.model else "random"
        clf.meta["encoder"] = cfg.model or "random_init"
        clf.meta["encoder_origin"] = encoder_origin(resolve_encoder(cfg.model, cfg.model_source)) if cfg.model else {}
        return clf.to(cfg.device, cfg.precision)

    def _optimizer(self, clf: TextClassifier, total_steps: int) -> tuple[torch.optim.Optimizer, Any]:
        from transformers import get_linear_schedule_with_warmup

        cfg = self.config
        decay, no_decay = [], []
        for name, param in clf.model.named_parameters():
            (no_decay if param.ndim < 2 or "LayerNorm" in name or name.endswith("bias") else decay).append(param)
        head_params = {id(p) for p in clf.model.head_parameters()}
        groups = []
        for params, wd in ((decay, cfg.weight_decay), (no_decay, 0.0)):
            for is_head in (False, True):
                chosen = [p for p in params if (id(p) in head_params) == is_head]
                if chosen:
                    groups.append({"params": chosen, "weight_decay": wd,
                                   "lr": (cfg.head_lr or cfg.lr) if is_head else cfg.lr})
        optimizer = torch.optim.AdamW(groups)
        scheduler = get_linear_schedule_with_warmup(optimizer, int(cfg.warmup_ratio * total_steps), total_steps)
        return optimizer, scheduler

    def _save_checkpoint(self, clf: TextClassifier, optimizer: Any, scheduler: Any, state: dict[str, Any]) -> None:
        folder = self.out_dir / CHECKPOINT
        tmp = self.out_dir / f"{CHECKPOINT}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        clf.save(tmp / "model")
        torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                    "torch_rng": torch.get_rng_state(), "numpy_rng": np.random.get_state(),
                    "python_rng": random.getstate()}, tmp / "optimizer.pt")
        (tmp / "trainer_state.json").write_text(json.dumps(state, indent=2), encoding="utf-8")
        shutil.rmtree(folder, ignore_errors=True)
        tmp.rename(folder)

    def _save_model(self, clf: TextClassifier, name: str, extra: dict[str, Any]) -> Path:
        folder = self.out_dir / name
        shutil.rmtree(folder, ignore_errors=True)
        return clf.save(folder, card=model_card(clf, extra, self.config, self.config_path), extra={"training_metrics.json": extra})

    # -- loop ---------------------------------------------------------------------------------------------
    def train(self, *, resume: bool = False, overwrite: bool = False) -> TrainResult:
        """Train; ``resume`` continues from ``<out>/checkpoint`` (mid-epoch too, with ``checkpoint_every``), and
        a folder holding a checkpoint is only started over with ``overwrite``."""
        cfg = self.config
        random.seed(cfg.seed)
        np.random.seed(cfg.seed)
        train, dev = self._examples("train"), self._examples("dev")
        if not train:
            raise InputError("the training sources hold no labelled examples")
        checkpoint = self.out_dir / CHECKPOINT
        state: dict[str, Any] = {"epoch": 0, "step": 0, "best_score": None, "history": [], "patience": 0,
                                 "seconds": 0.0, "examples": 0}
        if not resume and (checkpoint / "trainer_state.json").is_file() and not overwrite:
            raise InputError(f"{self.out_dir} holds the checkpoint of an earlier run: pass --resume to continue it, "
                             "or --overwrite to start over")
        if resume:
            if not (checkpoint / "trainer_state.json").is_file():
                raise InputError(f"{checkpoint}: nothing to resume (no checkpoint from an earlier run)")
            clf = TextClassifier.load(checkpoint / "model", device=cfg.device, precision=cfg.precision)
            clf.model.dropout.p = cfg.dropout
            state = json.loads((checkpoint / "trainer_state.json").read_text(encoding="utf-8"))
        else:
            clf = self._new_classifier(train)
        steps_per_epoch = max(1, -(-len(train) // (cfg.batch_size * cfg.grad_accumulation)))
        total_steps = cfg.max_steps or steps_per_epoch * cfg.epochs
        optimizer, scheduler = self._optimizer(clf, total_steps)
        if resume:
            saved = torch.load(checkpoint / "optimizer.pt", weights_only=False, map_location=clf.device)
            optimizer.load_state_dict(saved["optimizer"])
            scheduler.load_state_dict(saved["scheduler"])
            torch.set_rng_state(saved["torch_rng"])
            np.random.set_state(saved["numpy_rng"])
            random.setstate(saved["python_rng"])
        weights = balanced_weights(train, clf.tasks) if cfg.class_weights == "balanced" else None
        # fp16 needs loss scaling against underflow; bf16 and fp32 do not (the scaler is then a pass-through)
        scaler = torch.amp.GradScaler("cuda", enabled=clf.device.type == "cuda" and cfg.precision == "fp16")
        tuned_at = state["step"]  # thresholds are tuned as of this step (a checkpoint is saved right after evaluation)
        lengths = [len(r["text"]) for r in train]
        meta = {"train_distribution": distribution(train, self.schema), "train_examples": len(train),
                "dev_examples": len(dev)}
        result = TrainResult(self.out_dir, None, self.out_dir / "model-final")
        columns = (TextColumn("loss {task.fields[loss]}"), TextColumn("dev {task.fields[dev]}"))
        try:
            with progress_bar(*columns, disable=not self.show_progress) as bar:
                job = bar.add_task("train", total=total_steps, completed=state["step"], loss="-", dev="-")
                for epoch in range(state["epoch"], cfg.epochs):
                    if state["step"] >= total_steps or state["patience"] >= (cfg.early_stopping_patience or 10**9):
                        break
                    clf.model.train()
                    order = epoch_order(lengths, cfg.batch_size, cfg.seed + epoch, group_by_length=cfg.group_by_length)
                    # a mid-epoch checkpoint: skip the batches it had done (the order is the same, seeded by epoch)
                    done, losses = state.pop("batch_in_epoch", 0), state.pop("epoch_losses", [])
                    started = time.perf_counter()
                    optimizer.zero_grad()
                    for i, batch in enumerate(self._batches(clf, train, order[done * cfg.batch_size:], cfg.batch_size),
                                              start=done + 1):
                        loss, _ = masked_loss(clf.forward(batch, batch["prior"]), batch, clf.tasks, weights)
                        if loss.requires_grad:
                            scaler.scale(loss / cfg.grad_accumulation).backward()
                        losses.append(float(loss.detach()))
                        state["examples"] += len(batch["input_ids"])
                        if i % cfg.grad_accumulation == 0 or i * cfg.batch_size >= len(train):
                            scaler.unscale_(optimizer)
                            torch.nn.utils.clip_grad_norm_(clf.model.parameters(), 1.0)
                            scaler.step(optimizer)
                            scaler.update()
                            scheduler.step()
                            optimizer.zero_grad()
                            state["step"] += 1
                            bar.update(job, advance=1, loss=f"{np.mean(losses[-20:]):.4f}")
                            if state["step"] >= total_steps:
                                break
                            if cfg.checkpoint_every and state["step"] % cfg.checkpoint_every == 0 and i < len(order) / cfg.batch_size:
                                elapsed = time.perf_counter() - started
                                self._save_checkpoint(clf, optimizer, scheduler, {
                                    **state, "seconds": state["seconds"] + elapsed, "batch_in_epoch": i,
                                    "epoch_losses": losses})
                    state["seconds"] += time.perf_counter() - started
                    dev_metrics = self.evaluate(clf, dev)
                    tuned_at = state["step"]
                    entry = {"epoch": epoch + 1, "step": state["step"], "train_loss": float(np.mean(losses)) if losses else None,
                             "dev": dev_metrics}
                    state["history"].append(entry)
                    state["epoch"] = epoch + 1
                    score = dev_metrics.get("score")
                    bar.update(job, dev=f"{score:.3f}" if score is not None else "-")
                    if score is not None and (state["best_score"] is None or score > state["best_score"]):
                        state["best_score"], state["patience"] = score, 0
                        result.best_dir = self._save_model(clf, "model-best", self._extra(meta, state))
                    else:
                        state["patience"] += 1
                    self._save_checkpoint(clf, optimizer, scheduler, state)
        finally:
            if state["step"] > 0:
                if state["step"] != tuned_at:  # stopped inside an epoch: the last evaluation is stale
                    self._tune(clf, dev)
                self._save_model(clf, "model-final", self._extra(meta, state))
        if result.best_dir is None and (self.out_dir / "model-best").is_dir():
            result.best_dir = self.out_dir / "model-best"
        result.history, result.best_score = state["history"], state["best_score"]
        test = self._examples("test")
        if test:
            for folder in {result.best_dir or result.final_dir, result.final_dir}:
                result.test_metrics[folder.name] = self._record_test(folder, test)
        return result

    def _record_test(self, folder: Path, test: list[dict[str, Any]]) -> dict[str, Any]:
        """Score a saved model on the test split (thresholds as saved) and write the figures into its card."""
        clf = TextClassifier.load(folder, device=self.config.device, precision=self.config.precision)
        metrics = self.evaluate(clf, test, tune=False)
        extra = json.loads((folder / "training_metrics.json").read_text(encoding="utf-8"))
        extra.update(test_metrics=metrics, test_examples=len(test))
        (folder / "training_metrics.json").write_text(json.dumps(extra, ensure_ascii=False, indent=2), encoding="utf-8")
        (folder / CARD_FILE).write_text(model_card(clf, extra, self.config, self.config_path), encoding="utf-8")
        return metrics

    def _extra(self, meta: dict[str, Any], state: dict[str, Any]) -> dict[str, Any]:
        seconds = state["seconds"]
        return {
            **meta,
            "history": state["history"],
            "best_dev_score": state["best_score"],
            "steps": state["step"],
            "train_seconds": round(seconds, 1),
            "train_examples_per_second": round(state["examples"] / seconds, 2) if seconds else None,
            "peak_memory_mb": peak_memory_mb(),
            "device": str(resolve_device(self.config.device)),
            "config": self.config.model_dump(mode="json"),
        }
