"""ONNX export (optionally dynamic int8) and an ONNX Runtime classifier with the same interface.

An export folder holds ``model.onnx`` plus the model folder's tokenizer, encoder config,
``toolkit_model.json`` and rules (for a rule-prior model, whose graph takes the prior as ``prior_<task>``
inputs), so ``OnnxClassifier.load(folder)`` predicts exactly like ``TextClassifier.load``.
"""

from __future__ import annotations

import json
import shutil
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from toolkit.annotate import RulePreannotator
from toolkit.errors import ModelError
from toolkit.model.classifier import (ENCODER_WEIGHTS, HEADS_FILE, META_FILE, RULES_DIR, Classifier, TextClassifier,
                                      load_rules)

ONNX_FILE = "model.onnx"
OPSET = 17


class _Outputs(torch.nn.Module):
    """Dict outputs as a tuple in head order, and the rule prior as positional inputs, which ONNX export needs."""

    def __init__(self, model: torch.nn.Module, names: list[str], prior_names: list[str]) -> None:
        super().__init__()
        self.model, self.names, self.prior_names = model, names, prior_names

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, *prior: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.model(input_ids, attention_mask, dict(zip(self.prior_names, prior)) or None)
        return tuple(out[name] for name in self.names)


def export_onnx(model_dir: str | Path, out_dir: str | Path, *, int8: bool = False) -> Path:
    """Export a model folder to ONNX (TorchScript exporter, dynamic batch and length); ``int8`` applies ONNX
    Runtime's dynamic quantisation (8-bit weights per channel, activations quantised on the fly) to every
    MatMul but the feed-forward output projections."""
    model_dir, out_dir = Path(model_dir), Path(out_dir)
    clf = TextClassifier.load(model_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for item in model_dir.iterdir():
        if item.is_file() and item.name not in (ENCODER_WEIGHTS, HEADS_FILE):
            shutil.copy2(item, out_dir / item.name)
    if (model_dir / RULES_DIR).is_dir():
        shutil.copytree(model_dir / RULES_DIR, out_dir / RULES_DIR, dirs_exist_ok=True)
    names = [t["name"] for t in clf.tasks]
    texts = ["小米汽车交付创新高。", "華為"]
    sample, prior = clf.encode(texts), clf.prior(texts)
    target = out_dir / ONNX_FILE
    fp32 = out_dir / "model.fp32.onnx" if int8 else target
    dynamic = {k: {0: "batch", 1: "length"} for k in ("input_ids", "attention_mask")}
    dynamic.update({f"prior_{name}": {0: "batch"} for name in prior})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about constants that do not vary for this model
        torch.onnx.export(
            _Outputs(clf.model.eval(), names, list(prior)),
            (sample["input_ids"], sample["attention_mask"], *(torch.from_numpy(p) for p in prior.values())), str(fp32),
            input_names=list(dynamic), output_names=names,
            opset_version=OPSET, dynamo=False, dynamic_axes=dynamic,
        )
    if int8:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        # 8-bit unsigned per-channel weights (no reduced range) and the feed-forward output projections
        # kept in fp32: their input, the GELU output, has one channel reaching ~30 where the median stays
        # below 1, which one activation scale per tensor cannot represent (measurements in BENCHMARKS.md).
        quantize_dynamic(str(fp32), str(target), weight_type=QuantType.QUInt8, per_channel=True,
                         nodes_to_exclude=after_activation(str(fp32)))
        fp32.unlink()
    meta = dict(clf.meta, model_version=f"{clf.model_version}-onnx{'-int8' if int8 else ''}", runtime="onnx")
    (out_dir / META_FILE).write_text(json.dumps(meta, ensure_ascii=False, indent=2), encoding="utf-8")
    return out_dir


_ACTIVATIONS = {"Gelu", "FastGelu", "BiasGelu", "Erf", "Tanh", "Sigmoid", "Relu"}


def after_activation(onnx_path: str, depth: int = 4) -> list[str]:
    """Names of the MatMul nodes fed (within ``depth`` nodes) by an activation function: in a transformer,
    the second matmul of each feed-forward block. Erf covers GELU as the TorchScript exporter writes it."""
    import onnx

    graph = onnx.load(onnx_path, load_external_data=False).graph
    producer = {out: node for node in graph.node for out in node.output}

    def fed_by_activation(name: str, left: int) -> bool:
        node = producer.get(name)
        if node is None or left == 0:
            return False
        return node.op_type in _ACTIVATIONS or any(fed_by_activation(i, left - 1) for i in node.input)

    return [n.name for n in graph.node if n.op_type == "MatMul" and fed_by_activation(n.input[0], depth)]


class OnnxClassifier(Classifier):
    """A classifier whose forward pass runs in ONNX Runtime (CPU)."""

    def __init__(self, session: Any, tokenizer: Any, meta: dict[str, Any],
                 rules: RulePreannotator | None = None) -> None:
        super().__init__(tokenizer, meta, rules)
        self.session = session

    @classmethod
    def load(cls, folder: str | Path, *, threads: int | None = None) -> OnnxClassifier:
        import onnxruntime as ort
        from transformers import AutoTokenizer

        folder = Path(folder)
        if not (folder / ONNX_FILE).is_file() or not (folder / META_FILE).is_file():
            raise ModelError(f"{folder}: not an ONNX export ({ONNX_FILE} or {META_FILE} missing); "
                             "make one with `toolkit export-onnx`")
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:  # a Ray actor gets its share of the node's CPUs, not all of them
            options.intra_op_num_threads = threads
        session = ort.InferenceSession(str(folder / ONNX_FILE), options, providers=["CPUExecutionProvider"])
        meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
        rules = load_rules(folder) if meta.get("rule_prior") else None
        return cls(session, AutoTokenizer.from_pretrained(folder, local_files_only=True), meta, rules)

    def logits(self, batch: dict[str, Any], prior: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        feeds = {"input_ids": batch["input_ids"].numpy(), "attention_mask": batch["attention_mask"].numpy()}
        feeds.update({f"prior_{name}": p for name, p in prior.items()})
        return dict(zip((t["name"] for t in self.tasks), self.session.run(None, feeds)))


def label_agreement(reference: Classifier, other: Classifier, texts: Sequence[str]) -> dict[str, float]:
    """How often ``other`` decides as ``reference`` on ``texts`` (how an int8 export is checked against its
    fp32 model): per single-choice task the share of texts with the same label; per multi-choice task the
    share of (text, label) decisions that agree, and as ``<task>_sets`` the share of identical label sets."""
    ours, theirs = reference.decide(reference.predict_proba(texts)), other.decide(other.predict_proba(texts))
    out: dict[str, float] = {}
    for task in reference.tasks:
        name, pairs = task["name"], list(zip(ours[task["name"]], theirs[task["name"]]))
        if not pairs:
            out[name] = 1.0
        elif task["kind"] == "single":
            out[name] = float(np.mean([a == b for a, b in pairs]))
        else:
            out[name] = float(np.mean([(label in a) == (label in b) for a, b in pairs for label in task["labels"]]))
            out[f"{name}_sets"] = float(np.mean([set(a) == set(b) for a, b in pairs]))
    return out


def load_classifier(folder: str | Path, backend: str = "torch", device: str = "auto", *,
                    threads: int | None = None) -> Classifier:
    """A classifier for ``predict``/``serve``: PyTorch weights on ``device``, or an ONNX export (CPU) run with
    ``threads`` intra-op threads (default: ONNX Runtime's, one per core)."""
    if backend == "onnx":
        return OnnxClassifier.load(folder, threads=threads)
    if backend != "torch":
        raise ModelError(f"unknown backend {backend!r}; use 'torch' or 'onnx'")
    return TextClassifier.load(folder, device=device)
