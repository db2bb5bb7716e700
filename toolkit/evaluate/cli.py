"""``toolkit evaluate``: compare predictions with reviewed labels; table on screen, JSON on disk."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from toolkit.evaluate.cv import cross_validate, cv_pool
from toolkit.evaluate.predictions import evaluate_predictions
from toolkit.evaluate.report import evaluate_model
from toolkit.io import read_records
from toolkit.labels import load_schema
from toolkit.studio.export import read_reviewed
from toolkit.train.config import load_train_config, parse_overrides


def print_report(report: dict[str, Any], console: Console) -> None:
    table = Table(title=f"evaluation on {report['n_gold']} reviewed units")
    for column in ("task", "n", "accuracy", "macro-F1", "micro-F1"):
        table.add_column(column)
    for task in load_schema().tasks:
        r = report[task.name]
        accuracy = f"{r['accuracy']:.3f}" if "accuracy" in r else "-"
        micro = f"{r['micro_f1']:.3f}" if "micro_f1" in r else "-"
        table.add_row(task.name, str(r["n"]), accuracy, f"{r['macro_f1']:.3f}", micro)
    console.print(table)
    mentions = report["competitor_mentions"]
    console.print(f"competitor mention recall ({mentions['level']} level, n={mentions['n']}): {mentions['recall']:.3f}")


def evaluate_command(
    predictions: Annotated[Path | None, typer.Option(help="Records with a 'predictions' block (from preannotate).")] = None,
    gold: Annotated[Path | None, typer.Option(help="Reviewed records (.jsonl) or a Label Studio JSON export (.json).")] = None,
    model: Annotated[Path | None, typer.Option(help="A trained model folder (from `toolkit train`).")] = None,
    data: Annotated[list[Path] | None, typer.Option(
        help="Labelled data for --model (reviewed/labelled JSONL or a dataset folder), or, with --cv, the reviewed "
             "files or Label Studio exports whose articles are the folds (repeatable).")] = None,
    split: Annotated[str, typer.Option(help="Split of a dataset folder given as --data.")] = "test",
    train: Annotated[Path | None, typer.Option(help="Training data for the TF-IDF baseline (default: the model's).")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Metrics JSON (predictions mode) or report folder (model mode).")] = None,
    device: Annotated[str, typer.Option(help="auto (CUDA, else MPS, else CPU), cpu, cuda or mps.")] = "auto",
    cv: Annotated[str | None, typer.Option(help="'articles': leave-one-article-out cross-validation of --config.")] = None,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="Training config for --cv.")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="With --cv: override a config value (repeatable).")] = None,
    folds: Annotated[list[str] | None, typer.Option("--fold", help="With --cv: hold out only these articles.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Score predictions (--predictions --gold), a model beside baselines (--model --data --out DIR), or a
    training configuration on articles it never saw (--cv articles --config C --data D --out DIR)."""
    if cv is not None:
        if cv != "articles":
            raise typer.BadParameter("the one cross-validation is 'articles' (leave one article out)", param_hint="--cv")
        if config is None or not data or out is None:
            raise typer.BadParameter("--cv articles needs --config, --data and --out (the report folder)")
        cfg = load_train_config(config, parse_overrides(set_ or []))
        cfg.device = device if device != "auto" else cfg.device
        schema = load_schema()
        report = cross_validate(cfg, cv_pool(data, schema), out, schema=schema, folds=folds, show_progress=not quiet)
        Console().print((out / "cv.md").read_text(encoding="utf-8"), soft_wrap=True, markup=False)
        Console().print(f"report -> {out / 'cv.md'}, {out / 'cv.json'}; held-out predictions -> {out / 'predictions.jsonl'}"
                        f" ({report['cost']['wall_seconds']:.0f} s)")
        return
    if model is not None:
        if not data or out is None:
            raise typer.BadParameter("--model needs --data and --out (the report folder)")
        if len(data) > 1:
            raise typer.BadParameter("--model takes one --data", param_hint="--data")
        report = evaluate_model(model, data[0], out, train=train, split=split, device=device)
        table = Table(title=f"{report['model_version']} on {report['n']} units")
        for column in ("task", "metric", "model", "rules", "tfidf"):
            table.add_column(column)
        for task, metrics in report["systems"]["model"].items():
            metric = "macro_f1"
            cells = [report["systems"][s].get(task, {}).get(metric) for s in ("model", "rules", "tfidf")]
            table.add_row(task, metric, *("-" if c is None else f"{c:.3f}" for c in cells))
        Console().print(table)
        Console().print(f"report -> {out / 'report.md'}")
        return
    if predictions is None or gold is None:
        raise typer.BadParameter("give --predictions and --gold, or --model, --data and --out")
    report = evaluate_predictions(read_records(predictions), read_reviewed(gold))
    print_report(report, Console())
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
        Console().print(f"metrics -> {out}")
