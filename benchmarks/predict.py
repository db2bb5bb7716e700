"""Batch-inference throughput: toolkit's predict path against a plain transformers pipeline loop.

Same fine-tuned model, same inputs, same process. The pipeline baseline wraps the model's sentiment head as
a ``PreTrainedModel`` and calls ``pipeline("text-classification")`` once per sentence (the loop people write
first); toolkit sorts by length, pads per batch and runs under ``torch.inference_mode``. Reports
sentences/s for both, label agreement, and useful GFLOP/s (encoder matmuls on real tokens, padding not
counted) against this machine's fp32 matmul peak measured in the same run. Then the ONNX Runtime fp32 and
dynamic-int8 exports: throughput, label agreement with PyTorch, and macro-F1 change on labelled dev data.

    python benchmarks/predict.py --model build/review-model/model-best --n 1000
    python benchmarks/predict.py --model build/chnsenticorp-model --texts ../shared/datasets/chnsenticorp/test.tsv \
        --gold ../shared/datasets/chnsenticorp/test.tsv --n 1200
"""

from __future__ import annotations

import argparse
import itertools
import platform
import tempfile
import time
from pathlib import Path

import torch
from transformers import PretrainedConfig, PreTrainedModel, pipeline
from transformers.modeling_outputs import SequenceClassifierOutput

from toolkit.evaluate.metrics import single_label_report
from toolkit.evaluate.report import load_eval_examples
from toolkit.ingest import ingest
from toolkit.ingest.normalize import normalize
from toolkit.io import read_records
from toolkit.labels import load_schema
from toolkit.predict.batch import predict_records
from toolkit.predict.onnx import OnnxClassifier, export_onnx
from toolkit.train.data import chnsenticorp_examples
from toolkit.model import TextClassifier

from _speed import matmul_peak, useful_flops

ROOT = Path(__file__).resolve().parent.parent


class SentimentHead(PreTrainedModel):
    """The fine-tuned model's sentiment head behind the interface ``pipeline`` expects."""

    config_class = PretrainedConfig

    def __init__(self, config: PretrainedConfig, clf: TextClassifier) -> None:
        super().__init__(config)
        self.clf_model = clf.model

    def forward(self, input_ids=None, attention_mask=None, **_: object) -> SequenceClassifierOutput:
        return SequenceClassifierOutput(logits=self.clf_model(input_ids, attention_mask)["sentiment"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=ROOT / "build" / "review-model" / "model-best")
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--source", type=Path, default=ROOT / "examples" / "articles")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--texts", type=Path, help="sentence JSONL or ChnSentiCorp .tsv to use instead of --source")
    parser.add_argument("--gold", type=Path, default=ROOT / "build" / "review-dataset",
                        help="labelled data for the int8 macro-F1 check: dataset folder (dev split), "
                             "labelled JSONL, or ChnSentiCorp .tsv")
    args = parser.parse_args()
    clf = TextClassifier.load(args.model)
    if clf.meta.get("rule_prior"):
        parser.error(f"{args.model} adds a rule prior, which a pipeline() baseline cannot feed; "
                     "benchmark a model trained with rule_prior: false")
    if args.texts:
        units = labelled_rows(args.texts) if args.texts.suffix == ".tsv" else list(read_records(args.texts))
        units = [dict(u, id=str(u.get("id", i))) for i, u in enumerate(units)]
    else:
        with tempfile.TemporaryDirectory() as tmp:
            ingest([args.source], Path(tmp) / "s.jsonl", show_progress=False)
            units = list(read_records(Path(tmp) / "s.jsonl"))
    records = [dict(u, id=f"{u['id']}-{i}") for i, u in enumerate(itertools.islice(itertools.cycle(units), args.n))]
    texts = [r["text"] for r in records]
    prefix, max_length = clf.meta["text_prefix"], clf.meta["max_length"]
    lengths = [len(x) for x in clf.tokenizer([prefix + normalize(t) for t in texts], truncation=True,
                                             max_length=max_length)["input_ids"]]
    peak = matmul_peak()
    print(f"python {platform.python_version()}, torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"model {clf.model_version}; {len(texts)} sentences, mean {sum(lengths) / len(lengths):.0f} tokens; "
          f"fp32 matmul peak {peak:.1f} GFLOP/s")

    start = time.perf_counter()
    ours = [r["predictions"]["sentiment"]["label"] for r in predict_records(clf, records, batch_size=args.batch_size)]
    ours_seconds = time.perf_counter() - start

    labels = clf.tasks[[t["name"] for t in clf.tasks].index("sentiment")]["labels"]
    config = PretrainedConfig(id2label=dict(enumerate(labels)), label2id={n: i for i, n in enumerate(labels)})
    pipe = pipeline("text-classification", model=SentimentHead(config, clf).eval(), tokenizer=clf.tokenizer,
                    device=-1, truncation=True, max_length=max_length)
    start = time.perf_counter()
    baseline = [pipe(prefix + normalize(t))[0]["label"] for t in texts]
    pipe_seconds = time.perf_counter() - start

    flops = useful_flops(clf.model.encoder.config, lengths)
    agree = sum(a == b for a, b in zip(ours, baseline)) / len(texts)
    for name, seconds in (("toolkit predict", ours_seconds), ("pipeline loop", pipe_seconds)):
        gflops = flops / seconds / 1e9
        print(f"{name:16s} {seconds:7.2f} s  {len(texts) / seconds:8.1f} sentences/s  "
              f"{gflops:6.1f} useful GFLOP/s ({100 * gflops / peak:4.1f}% of peak)")
    print(f"speed-up {pipe_seconds / ours_seconds:.2f}x; identical sentiment labels: {100 * agree:.2f}%")

    with tempfile.TemporaryDirectory() as tmp:
        for name, int8 in (("onnx fp32", False), ("onnx int8", True)):
            onnx = OnnxClassifier.load(export_onnx(args.model, Path(tmp) / name, int8=int8))
            start = time.perf_counter()
            labels_onnx = [r["predictions"]["sentiment"]["label"] for r in predict_records(onnx, records, batch_size=args.batch_size)]
            seconds = time.perf_counter() - start
            same = sum(a == b for a, b in zip(ours, labels_onnx)) / len(texts)
            line = f"{name:16s} {seconds:7.2f} s  {len(texts) / seconds:8.1f} sentences/s  labels equal to torch: {100 * same:.2f}%"
            if args.gold.exists():
                line += "; " + f1_change(clf, onnx, args.gold)
            print(line)


def labelled_rows(path: Path) -> list[dict]:
    """Labelled examples (text + label indices) from a ChnSentiCorp .tsv, a dataset folder (dev) or JSONL."""
    if path.suffix == ".tsv":
        return chnsenticorp_examples(path, load_schema())
    return load_eval_examples(path, load_schema(), split="dev")


def f1_change(reference: TextClassifier, other: TextClassifier, gold: Path) -> str:
    """Macro-F1 per single-choice task on labelled data: the other model minus the reference."""
    rows = labelled_rows(gold)
    texts = [r["text"] for r in rows]
    p_ref, p_other = reference.predict_proba(texts), other.predict_proba(texts)
    parts = []
    for task in reference.tasks:
        if task["kind"] != "single":
            continue
        keep = [i for i, r in enumerate(rows) if r[task["name"]] >= 0]
        truth = [task["labels"][rows[i][task["name"]]] for i in keep]
        f1 = [single_label_report(truth, [task["labels"][int(p[task["name"]][i].argmax())] for i in keep],
                                  labels=task["labels"])["macro_f1"] for p in (p_ref, p_other)]
        parts.append(f"{task['name']} macro-F1 {f1[0]:.3f} -> {f1[1]:.3f} ({100 * (f1[1] - f1[0]):+.1f} points)")
    return ", ".join(parts)


if __name__ == "__main__":
    main()
