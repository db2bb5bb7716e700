"""Leave-one-article-out cross-validation: how a training configuration does on articles it never saw.

Each fold holds one reviewed article out. The model trains on the other articles; its epoch and topic
thresholds are chosen on an inner dev split of those training articles only (whole articles, seeded), so
nothing about the held-out article reaches training, model selection or threshold tuning. The rules and a
TF-IDF + logistic-regression baseline (fitted on the same training articles) predict the same held-out
article. Predictions are pooled over the folds for one macro-F1 per task and system, and scored per fold
for the spread. The config's other training sources (ChnSentiCorp, FinFE, rule-labelled ``weak`` text)
join every fold's training data; they are not articles of the pool.
"""

from __future__ import annotations

import json
import random
import shutil
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from toolkit.annotate import RulePreannotator, RulesConfig
from toolkit.errors import InputError
from toolkit.evaluate.metrics import multi_label_report, single_label_report
from toolkit.evaluate.report import tfidf_baseline
from toolkit.labels import LabelSchema, load_schema
from toolkit.model import TextClassifier
from toolkit.progress import progress_bar
from toolkit.train.config import Source, TrainConfig
from toolkit.train.data import MISSING, reviewed_examples, source_examples
from toolkit.train.trainer import Trainer

SYSTEMS = ("model", "rules", "tfidf")
_POOL_FORMATS = ("reviewed", "dataset")


def cv_pool(paths: Sequence[str | Path], schema: LabelSchema) -> list[dict[str, Any]]:
    """The units to cross-validate over: reviewed records or Label Studio exports, or every split of a dataset
    folder (``toolkit dataset build``)."""
    rows: list[dict[str, Any]] = []
    for path in map(Path, paths):
        if path.is_dir():
            rows.extend(row for split in ("train", "dev", "test")
                        for row in _dataset_split(path, split, schema))
        elif path.is_file():
            rows.extend(reviewed_examples([path], schema))
        else:
            raise InputError(f"{path}: no such reviewed file or dataset folder")
    if not rows:
        raise InputError("no labelled units to cross-validate over")
    return rows


def _dataset_split(path: Path, split: str, schema: LabelSchema) -> list[dict[str, Any]]:
    try:
        return source_examples(Source(format="dataset", path=path, split=split), schema, seed=0)
    except InputError:  # a dataset built without that split
        return []


def inner_split(articles: Sequence[str], units: dict[str, int], *, dev_share: float, seed: int) -> tuple[list[str], list[str]]:
    """Training articles and inner dev articles: seeded, whole articles, dev taking about ``dev_share`` of the
    units (at least one article), training keeping at least one."""
    order = sorted(articles)
    random.Random(seed).shuffle(order)
    total, dev = sum(units[a] for a in order), []
    for article in order[:-1]:
        if dev and sum(units[a] for a in dev) >= dev_share * total:
            break
        dev.append(article)
    return [a for a in order if a not in dev], dev


def _truth(row: dict[str, Any], task: dict[str, Any]) -> Any:
    """The reviewed label(s) of ``row`` for ``task``, or None where the row has none."""
    name, labels = task["name"], task["labels"]
    if task["kind"] == "single":
        return labels[row[name]] if row[name] != MISSING else None
    return [lab for lab, v in zip(labels, row[name]) if v] if row[f"{name}_mask"] else None


def _score(task: dict[str, Any], truth: list[Any], pred: list[Any]) -> dict[str, Any]:
    pairs = [(t, p) for t, p in zip(truth, pred) if t is not None and p is not None]
    if not pairs:
        return {}
    t, p = [a for a, _ in pairs], [b for _, b in pairs]
    if task["kind"] == "single":
        return single_label_report(t, p, labels=task["labels"])
    return multi_label_report(t, p, labels=task["labels"])


def _headline(task: dict[str, Any]) -> str:
    return "macro_f1" if task["kind"] == "single" else "micro_f1"


def headline_scores(tasks: Sequence[dict[str, Any]], rows: Sequence[dict[str, Any]],
                    decided: dict[str, list[Any]]) -> dict[str, float]:
    """Per task the CV's headline figure (macro-F1 single-choice, micro-F1 topics) of ``decided`` (label names
    per task, as ``Classifier.decide`` gives them) against the reviewed labels of ``rows``."""
    out = {}
    for task in tasks:
        report = _score(task, [_truth(r, task) for r in rows], decided.get(task["name"], [None] * len(rows)))
        if report:
            out[task["name"]] = report[_headline(task)]
    return out


def cross_validate(
    config: TrainConfig, pool: Sequence[dict[str, Any]], out_dir: str | Path, *, schema: LabelSchema | None = None,
    dev_share: float = 0.2, folds: Sequence[str] | None = None, keep_models: bool = False, show_progress: bool = True,
) -> dict[str, Any]:
    """Run the folds (every article of ``pool``, or the ``folds`` named) and write ``cv.json``, ``cv.md`` and
    ``predictions.jsonl`` (each held-out unit with its reviewed labels and every system's prediction) to
    ``out_dir``. ``pool`` holds training examples (``toolkit.train.data`` rows) with ``article_id``."""
    schema = schema or load_schema()
    out_dir = Path(out_dir)
    by_article: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in pool:
        by_article[str(row["article_id"])].append(row)
    if len(by_article) < 3:
        raise InputError(f"leave-one-article-out needs at least 3 articles (a held-out one, a training one and an "
                         f"inner dev one); the data has {len(by_article)}")
    held_out = list(folds) if folds else sorted(by_article)
    unknown = [a for a in held_out if a not in by_article]
    if unknown:
        raise InputError(f"no reviewed units for article(s) {', '.join(unknown)}")
    rules = RulePreannotator(schema, config.lexicon, RulesConfig.from_file(config.rules) if config.rules else None)
    extra = [row for i, source in enumerate(config.data.train if config.data else []) if source.format not in _POOL_FORMATS
             for row in source_examples(source, schema, seed=config.seed + i, rules=rules)]
    units = {a: len(rows) for a, rows in by_article.items()}
    out_dir.mkdir(parents=True, exist_ok=True)
    fold_reports, held_rows, predictions = [], [], {s: defaultdict(list) for s in SYSTEMS}
    tasks: list[dict[str, Any]] = []
    started = time.perf_counter()
    with progress_bar(disable=not show_progress) as bar:
        job = bar.add_task("folds", total=len(held_out))
        for k, article in enumerate(held_out):
            train_articles, dev_articles = inner_split([a for a in by_article if a != article], units,
                                                       dev_share=dev_share, seed=config.seed + k)
            train = [r for a in train_articles for r in by_article[a]]
            dev = [r for a in dev_articles for r in by_article[a]]
            test = by_article[article]
            cfg = config.model_copy(deep=True)
            cfg.data = None
            fold_dir = out_dir / "folds" / f"{k:03d}"
            fold_start = time.perf_counter()
            result = Trainer(cfg, fold_dir, train_dataset=train + extra, eval_dataset=dev, schema=schema,
                             show_progress=False).train(overwrite=True)  # a fold of an earlier, stopped CV
            seconds = time.perf_counter() - fold_start
            clf = TextClassifier.load(result.best_dir or result.final_dir, device=cfg.device)
            tasks = clf.tasks
            texts = [r["text"] for r in test]
            fold_pred = {"model": clf.decide(clf.predict_proba(texts, articles=[r["article_id"] for r in test])),
                         "tfidf": tfidf_baseline(train + dev, texts, tasks)}
            blocks = (clf.rules or rules).predict(texts)
            fold_pred["rules"] = {t["name"]: [b[t["name"]]["label" if t["kind"] == "single" else "labels"] for b in blocks]
                                  for t in tasks if t["name"] in RulePreannotator.TASKS}
            scores = {}
            for system in SYSTEMS:
                for task in tasks:
                    pred = fold_pred[system].get(task["name"], [None] * len(test))
                    predictions[system][task["name"]].extend(pred)
                    scores.setdefault(system, {})[task["name"]] = _score(task, [_truth(r, task) for r in test], pred)
            fold_reports.append({"article": article, "units": len(test), "train_articles": train_articles,
                                 "dev_articles": dev_articles, "train_units": len(train), "dev_units": len(dev),
                                 "train_seconds": round(seconds, 1), "epochs_run": len(result.history),
                                 "best_dev_score": result.best_score, "scores": _headline_scores(scores, tasks)})
            held_rows.extend(test)
            if not keep_models:
                shutil.rmtree(fold_dir, ignore_errors=True)
            bar.update(job, advance=1)
    report = _report(config, tasks, held_rows, predictions, fold_reports, time.perf_counter() - started)
    _write(out_dir, report, tasks, held_rows, predictions)
    return report


def _headline_scores(scores: dict[str, dict[str, dict[str, Any]]], tasks: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    return {system: {t["name"]: by_task[t["name"]][_headline(t)] for t in tasks if by_task.get(t["name"])}
            for system, by_task in scores.items()}


def _report(config: TrainConfig, tasks: list[dict[str, Any]], rows: list[dict[str, Any]],
            predictions: dict[str, dict[str, list[Any]]], folds: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
    pooled = {system: {t["name"]: _score(t, [_truth(r, t) for r in rows], predictions[system][t["name"]])
                       for t in tasks} for system in SYSTEMS}
    spread: dict[str, dict[str, dict[str, float]]] = {}
    for system in SYSTEMS:
        for task in tasks:
            values = [f["scores"][system][task["name"]] for f in folds if task["name"] in f["scores"].get(system, {})]
            if values:
                spread.setdefault(system, {})[task["name"]] = {
                    "mean": float(np.mean(values)), "std": float(np.std(values)),
                    "min": float(np.min(values)), "max": float(np.max(values)), "folds": len(values)}
    return {
        "config": config.model_dump(mode="json", exclude={"data"}),
        "folds": folds, "units": len(rows), "articles": len(folds),
        "pooled": {s: {t: {k: v for k, v in m.items() if k in ("n", "accuracy", "macro_f1", "micro_f1")}
                       for t, m in by.items() if m} for s, by in pooled.items()},
        "pooled_detail": pooled, "per_fold_spread": spread,
        "cost": {"train_seconds": round(sum(f["train_seconds"] for f in folds), 1), "wall_seconds": round(seconds, 1),
                 "folds": len(folds)},
    }


def _write(out_dir: Path, report: dict[str, Any], tasks: list[dict[str, Any]], rows: list[dict[str, Any]],
           predictions: dict[str, dict[str, list[Any]]]) -> None:
    (out_dir / "cv.json").write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    with (out_dir / "predictions.jsonl").open("w", encoding="utf-8") as fh:
        for i, row in enumerate(rows):
            out = {"id": row["id"], "article_id": row["article_id"], "text": row["text"],
                   "reviewed": {t["name"]: _truth(row, t) for t in tasks},
                   **{s: {t["name"]: predictions[s][t["name"]][i] for t in tasks} for s in SYSTEMS}}
            fh.write(json.dumps(out, ensure_ascii=False) + "\n")
    lines = [f"# Leave-one-article-out cross-validation: {report['articles']} folds, {report['units']} held-out units", "",
             f"Encoder `{report['config'].get('model') or 'random_init'}`; cost: {report['cost']['folds']} folds, "
             f"{report['cost']['train_seconds']:.0f} s of training, {report['cost']['wall_seconds']:.0f} s in all.", "",
             "Pooled over all held-out articles (macro-F1 for sentiment and stance, micro-F1 for topics), and the "
             "spread of the per-fold figure (mean ± std, min–max):", "",
             "| task | metric | model | rules | tfidf | model per fold | rules per fold | tfidf per fold |",
             "|---|---|---|---|---|---|---|---|"]
    for task in tasks:
        metric = _headline(task)
        cells = [report["pooled"].get(s, {}).get(task["name"], {}).get(metric) for s in SYSTEMS]
        spreads = [report["per_fold_spread"].get(s, {}).get(task["name"]) for s in SYSTEMS]
        lines.append(f"| {task['name']} | {metric} | " + " | ".join("-" if c is None else f"{c:.3f}" for c in cells) + " | "
                     + " | ".join("-" if s is None else f"{s['mean']:.2f} ± {s['std']:.2f} ({s['min']:.2f}–{s['max']:.2f})"
                                  for s in spreads) + " |")
    lines += ["", "| held-out article | units | train / dev articles | train s | epochs | "
              + " | ".join(f"model {t['name']}" for t in tasks) + " |", "|---|---|---|---|---|" + "---|" * len(tasks)]
    for fold in report["folds"]:
        model = fold["scores"].get("model", {})
        lines.append(f"| {fold['article']} | {fold['units']} | {len(fold['train_articles'])} / {len(fold['dev_articles'])} | "
                     f"{fold['train_seconds']:.0f} | {fold['epochs_run']} | "
                     + " | ".join(f"{model[t['name']]:.2f}" if t["name"] in model else "-" for t in tasks) + " |")
    (out_dir / "cv.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
