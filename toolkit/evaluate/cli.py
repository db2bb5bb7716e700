"""``toolkit evaluate``: compare predictions with reviewed labels; table on screen, JSON on disk."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from toolkit.evaluate.predictions import evaluate_predictions, load_gold
from toolkit.io import read_records
from toolkit.labels import load_schema


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
    predictions: Annotated[Path, typer.Option(help="Records with a 'predictions' block (from preannotate).")],
    gold: Annotated[Path, typer.Option(help="Reviewed records (.jsonl) or a Label Studio JSON export (.json).")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write the metrics JSON here.")] = None,
) -> None:
    """Score predictions against reviewed labels: accuracy, macro-F1, per-class and topic F1, mention recall."""
    report = evaluate_predictions(read_records(predictions), load_gold(gold))
    print_report(report, Console())
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
        Console().print(f"metrics -> {out}")
