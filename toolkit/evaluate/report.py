"""Evaluate a trained model beside two baselines and write a report folder.

Systems: the model, the rule pre-annotator, and TF-IDF (character 1–3-grams) + logistic regression fitted
on the model's own training split. Per task: accuracy, macro-F1, per-class precision/recall/F1, confusion
matrices (JSON + PNG), topic micro/macro-F1 with the model's tuned thresholds, and for the model the
expected calibration error with a reliability diagram. Everything lands in ``metrics.json`` and
``report.md``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.feature_extraction.text import TfidfVectorizer  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.metrics import confusion_matrix  # noqa: E402

from toolkit.annotate import RulePreannotator  # noqa: E402
from toolkit.errors import InputError  # noqa: E402
from toolkit.evaluate.metrics import multi_label_report, single_label_report, span_report  # noqa: E402
from toolkit.ingest.normalize import normalize  # noqa: E402
from toolkit.io import read_records  # noqa: E402
from toolkit.labels import LabelSchema, load_schema  # noqa: E402
from toolkit.train.config import Source, TrainConfig  # noqa: E402
from toolkit.train.data import MISSING, example, source_examples  # noqa: E402
from toolkit.model import TextClassifier  # noqa: E402

N_BINS = 10


def expected_calibration_error(probs: np.ndarray, truth: np.ndarray, *, n_bins: int = N_BINS) -> tuple[float, list[dict[str, float]]]:
    """ECE = Σ_b (n_b / N) · |accuracy_b − confidence_b| over equal-width bins of the top probability.

    ``probs`` (N, K), ``truth`` (N,) class indices. Returns the ECE and the per-bin table.
    """
    confidence = probs.max(1)
    correct = (probs.argmax(1) == truth).astype(float)
    edges = np.linspace(0, 1, n_bins + 1)
    bins, ece = [], 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        inside = (confidence > lo) & (confidence <= hi) if lo > 0 else (confidence >= lo) & (confidence <= hi)
        if inside.any():
            acc, conf = float(correct[inside].mean()), float(confidence[inside].mean())
            ece += inside.mean() * abs(acc - conf)
            bins.append({"low": float(lo), "high": float(hi), "n": int(inside.sum()), "accuracy": acc, "confidence": conf})
    return float(ece), bins


def load_eval_examples(path: str | Path, schema: LabelSchema, split: str = "test") -> list[dict[str, Any]]:
    """Reviewed records, any JSONL with ``text`` and label fields (in ``labels`` or at top level), or a dataset folder."""
    path = Path(path)
    if path.is_dir():
        return source_examples(Source(format="dataset", path=path, split=split), schema, seed=0)
    rows = []
    for i, record in enumerate(read_records(path)):
        if "text" not in record:
            raise InputError(f"{path}: record {i + 1} has no 'text'")
        labels = record.get("labels") or {k: record[k] for k in schema.task_names if k in record}
        rows.append(example({"id": record.get("id", i), **record, "labels": labels}, schema, path.name))
    return rows


def tfidf_baseline(train: list[dict[str, Any]], texts: list[str], tasks: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Per task predictions of char n-gram TF-IDF + logistic regression fitted on ``train``."""
    vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), min_df=1, sublinear_tf=True)
    x_train = vectorizer.fit_transform([normalize(r["text"]) for r in train])
    x_eval = vectorizer.transform([normalize(t) for t in texts])
    out: dict[str, Any] = {}
    for task in tasks:
        name, labels = task["name"], task["labels"]
        if task["kind"] == "single":
            keep = [i for i, r in enumerate(train) if r[name] != MISSING]
            classes = {train[i][name] for i in keep}
            if len(classes) < 2:
                continue
            clf = LogisticRegression(max_iter=2000, class_weight="balanced").fit(x_train[keep], [train[i][name] for i in keep])
            out[name] = [labels[int(c)] for c in clf.predict(x_eval)]
        else:
            keep = [i for i, r in enumerate(train) if r[f"{name}_mask"]]
            preds = [[] for _ in texts]
            for j, label in enumerate(labels):
                y = [train[i][name][j] > 0.5 for i in keep]
                if len(set(y)) < 2:
                    continue
                clf = LogisticRegression(max_iter=2000, class_weight="balanced").fit(x_train[keep], y)
                for k, hit in enumerate(clf.predict(x_eval)):
                    if hit:
                        preds[k].append(label)
            out[name] = preds
    return out


def _plot_confusion(matrix: np.ndarray, labels: Sequence[str], title: str, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(4, 3.6), dpi=120)
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=30)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("reviewed")
    for (i, j), v in np.ndenumerate(matrix):
        ax.text(j, i, str(v), ha="center", va="center", color="white" if v > matrix.max() / 2 else "black")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _plot_reliability(bins_by_task: dict[str, list[dict[str, float]]], eces: dict[str, float], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(4.2, 4), dpi=120)
    ax.plot([0, 1], [0, 1], "--", color="grey", label="perfect calibration")
    for task, bins in bins_by_task.items():
        ax.plot([b["confidence"] for b in bins], [b["accuracy"] for b in bins], "o-", label=f"{task} (ECE {eces[task]:.3f})")
    ax.set_xlabel("confidence (top probability)")
    ax.set_ylabel("accuracy")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title("reliability diagram")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _training_examples(model_dir: Path, train: str | Path | None, schema: LabelSchema) -> list[dict[str, Any]]:
    if train is not None:
        return load_eval_examples(train, schema, split="train")
    metrics = model_dir / "training_metrics.json"
    if not metrics.is_file():
        return []
    config = TrainConfig.model_validate(json.loads(metrics.read_text(encoding="utf-8"))["config"])
    rows = []
    for i, source in enumerate(config.data.train if config.data else []):
        if source.path.exists():
            rows.extend(source_examples(source, schema, seed=config.seed + i))
    return rows


def evaluate_model(
    model_dir: str | Path, data: str | Path, out_dir: str | Path, *, train: str | Path | None = None,
    split: str = "test", schema: LabelSchema | None = None, device: str = "auto",
) -> dict[str, Any]:
    """Evaluate ``model_dir`` on ``data`` beside the rule and TF-IDF baselines; write the report folder."""
    schema = schema or load_schema()
    model_dir, out_dir = Path(model_dir), Path(out_dir)
    clf = TextClassifier.load(model_dir, device=device)
    rows = load_eval_examples(data, schema, split)
    if not rows:
        raise InputError(f"{data}: no examples to evaluate")
    texts = [r["text"] for r in rows]
    out_dir.mkdir(parents=True, exist_ok=True)

    probs = clf.predict_proba(texts, articles=[r["article_id"] for r in rows])
    systems: dict[str, dict[str, Any]] = {"model": clf.decide(probs), "rules": {}, "tfidf": {}}
    rules = (clf.rules or RulePreannotator(schema)).predict(texts)  # a rule-prior model against its own rules
    for task in (t for t in clf.tasks if t["name"] in RulePreannotator.TASKS):
        key = "label" if task["kind"] == "single" else "labels"
        systems["rules"][task["name"]] = [r[task["name"]][key] for r in rules]
    train_rows = _training_examples(model_dir, train, schema)
    systems["tfidf"] = tfidf_baseline(train_rows, texts, clf.tasks) if train_rows else {}

    report: dict[str, Any] = {"model": str(model_dir), "model_version": clf.model_version, "data": str(data),
                              "rule_prior": clf.rules.model_version if clf.rules else None,
                              "n": len(rows), "systems": {}, "calibration": {}, "confusion": {}}
    reliability: dict[str, list[dict[str, float]]] = {}
    for system, predictions in systems.items():
        report["systems"][system] = {}
        for task in clf.tasks:
            name, labels = task["name"], task["labels"]
            if name not in predictions:
                continue
            if task["kind"] == "single":
                keep = [i for i, r in enumerate(rows) if r[name] != MISSING]
                if not keep:
                    continue
                truth = [labels[rows[i][name]] for i in keep]
                pred = [predictions[name][i] for i in keep]
                report["systems"][system][name] = single_label_report(truth, pred, labels=labels)
                if system == "model":
                    matrix = confusion_matrix(truth, pred, labels=labels)
                    report["confusion"][name] = {"labels": labels, "matrix": matrix.tolist()}
                    _plot_confusion(matrix, labels, f"{name} (model)", out_dir / f"confusion_{name}.png")
                    ece, bins = expected_calibration_error(probs[name][keep], np.array([rows[i][name] for i in keep]))
                    report["calibration"][name] = {"ece": ece, "bins": bins}
                    reliability[name] = bins
            else:
                keep = [i for i, r in enumerate(rows) if r[f"{name}_mask"]]
                if not keep:
                    continue
                truth = [[lab for lab, v in zip(labels, rows[i][name]) if v] for i in keep]
                report["systems"][system][name] = multi_label_report(truth, [predictions[name][i] for i in keep], labels=labels)
    (out_dir / "confusion.json").write_text(json.dumps(report["confusion"], indent=2), encoding="utf-8")
    if reliability:
        _plot_reliability(reliability, {k: v["ece"] for k, v in report["calibration"].items()}, out_dir / "reliability.png")
    report["thresholds"] = clf.meta["thresholds"]
    if Path(data).is_file() and (mentions := _span_scores(Path(data), clf.rules or RulePreannotator(schema), schema)):
        report["mentions"] = mentions
    (out_dir / "metrics.json").write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    (out_dir / "report.md").write_text(_markdown(report), encoding="utf-8")
    return report


def _span_scores(path: Path, rules: RulePreannotator, schema: LabelSchema) -> dict[str, Any] | None:
    """Competitor spans (the rules mark them; the model does not) against reviewed spans, on the units whose
    reviewers had a span control; None where no unit has reviewed spans."""
    from toolkit.studio.export import read_reviewed

    reviewed = [r for r in read_reviewed(path, schema) if (r.get("labels") or {}).get("mentions") is not None]
    if not reviewed:
        return None
    predicted = rules.predict([r["text"] for r in reviewed])
    truth = [[(m["start"], m["end"]) for m in r["labels"]["mentions"]] for r in reviewed]
    return span_report(truth, [[(c["start"], c["end"]) for c in block["competitors"]] for block in predicted])


def _markdown(report: dict[str, Any]) -> str:
    lines = [f"# Evaluation of `{report['model_version']}`", "",
             f"Data: `{report['data']}` ({report['n']} units). Model folder: `{report['model']}`."
             + (f" The model starts from the rules' scores (rule prior `{report['rule_prior']}`); the rules"
                " column is the same rules alone." if report["rule_prior"] else ""), "",
             "| task | metric | model | rules | tfidf |", "|---|---|---|---|---|"]
    tasks = list(report["systems"]["model"])
    for task in tasks:
        metrics = ("accuracy", "macro_f1") if "accuracy" in report["systems"]["model"][task] else ("micro_f1", "macro_f1")
        for metric in metrics:
            cells = [report["systems"][s].get(task, {}).get(metric) for s in ("model", "rules", "tfidf")]
            lines.append(f"| {task} | {metric} | " + " | ".join("-" if c is None else f"{c:.3f}" for c in cells) + " |")
    lines += ["", "## Calibration (model)", ""]
    for task, cal in report["calibration"].items():
        lines.append(f"- {task}: expected calibration error {cal['ece']:.3f}")
    lines += ["", "![reliability](reliability.png)", ""]
    for task in report["confusion"]:
        lines += [f"![confusion {task}](confusion_{task}.png)"]
    lines += ["", "## Per-class results (model)", ""]
    for task, metrics in report["systems"]["model"].items():
        per = metrics.get("per_class") or metrics.get("per_label")
        lines.append(f"**{task}**: " + "; ".join(
            f"{label} P {v['precision']:.2f} R {v['recall']:.2f} F1 {v['f1']:.2f} (n={v['support']})" for label, v in per.items()))
        lines.append("")
    lines.append(f"Topic thresholds (tuned on dev): `{json.dumps(report['thresholds'])}`")
    if mentions := report.get("mentions"):
        lines += ["", "## Competitor spans (rules)", "",
                  f"{mentions['correct']} of {mentions['predicted']} predicted spans match one of {mentions['spans']} "
                  f"reviewed spans exactly, over {mentions['n']} units: precision {mentions['precision']:.3f}, "
                  f"recall {mentions['recall']:.3f}, F1 {mentions['f1']:.3f}."]
    return "\n".join(lines) + "\n"
