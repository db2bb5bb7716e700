"""``toolkit studio``: run Label Studio, push tasks, pull reviews, measure agreement."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from toolkit.io import read_records, write_records
from toolkit.labels import load_schema
from toolkit.studio import server
from toolkit.studio.adjudicate import POLICIES
from toolkit.studio.agreement import agreement_report
from toolkit.studio.client import Studio, resolve_connection
from toolkit.studio.export import pull, read_export, read_reviewed
from toolkit.studio.push import push

app = typer.Typer(help="Label Studio: run a local server, push tasks with predictions, pull reviews.", no_args_is_help=True)
console = Console()

DataDir = Annotated[Path, typer.Option("--data-dir", help="Folder of the local server (database, token, logs).")]
Url = Annotated[str | None, typer.Option("--url", help="Label Studio URL (default: the local server's).")]
Project = Annotated[str, typer.Option("--project", "-p", help="Project title.")]
PolicyOpt = Annotated[str, typer.Option("--policy", help=f"Adjudication policy: {', '.join(POLICIES)}.")]
PriorityOpt = Annotated[
    list[int] | None, typer.Option("--priority", help="Annotator ids in priority order (policy 'priority').")
]


def _studio(url: str | None, data_dir: Path) -> Studio:
    return Studio(resolve_connection(url, data_dir=data_dir))


@app.command()
def start(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = server.DEFAULT_PORT,
    data_dir: DataDir = server.DEFAULT_DATA_DIR,
    label_studio: Annotated[Path | None, typer.Option(help="Path of the label-studio executable.")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for /health (a first start migrates ~1 min).")] = 300,
) -> None:
    """Start a local Label Studio (127.0.0.1, SQLite) and wait until it is healthy."""
    with console.status("starting Label Studio (a first start runs database migrations, about a minute)"):
        info, credentials = server.start(data_dir, port, label_studio=label_studio, timeout=timeout)
    console.print(f"Label Studio is up at [bold]{info.url}[/bold] (pid {info.pid}, data in {info.data_dir})")
    if credentials:
        console.print(
            f"created admin [bold]{credentials['username']}[/bold] with password [bold]{credentials['password']}[/bold]"
            f" and an API token; all kept in {info.data_dir / 'credentials.json'} (mode 0600)"
        )


@app.command()
def stop(data_dir: DataDir = server.DEFAULT_DATA_DIR) -> None:
    """Stop the local server by its recorded PID."""
    console.print("stopped" if server.stop(data_dir) else f"no server is running from {data_dir}")


@app.command()
def status(data_dir: DataDir = server.DEFAULT_DATA_DIR) -> None:
    """Say whether the local server runs and answers /health."""
    info = server.server_info(data_dir)
    if info is None:
        console.print(f"not running (data dir {data_dir})")
        raise typer.Exit(code=1)
    state = "healthy" if server.healthy(info.url) else "not answering /health"
    console.print(f"running at {info.url} (pid {info.pid}): {state}")


@app.command("push")
def push_command(
    file: Annotated[Path, typer.Argument(help="Sentence records, usually with predictions (.jsonl/.parquet).")],
    project: Project,
    order: Annotated[str, typer.Option(help="'input' or 'uncertainty' (least certain first, over every task).")] = "input",
    diversity: Annotated[int | None, typer.Option(min=2, help="With uncertainty: in each block of this many tasks, at most 3 per article and no near copies.")] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Tasks per import request.")] = 500,
    url: Url = None,
    data_dir: DataDir = server.DEFAULT_DATA_DIR,
) -> None:
    """Upload sentences as tasks with predictions; re-pushing creates no duplicates."""
    if order not in ("input", "uncertainty"):
        raise typer.BadParameter("order must be 'input' or 'uncertainty'", param_hint="--order")
    summary = push(_studio(url, data_dir), read_records(file), project, order=order, diversity=diversity,  # type: ignore[arg-type]
                   batch_size=batch_size)
    table = Table(title=f"push to {project!r} (project {summary.project_id})", show_header=False)
    for name in ("created", "predictions_added", "predictions_updated", "unchanged", "duplicates_in_input"):
        table.add_row(name.replace("_", " "), str(getattr(summary, name)))
    console.print(table)


@app.command("rerank")
def rerank_command(
    project: Project,
    model: Annotated[Path, typer.Option("--model", "-m", help="Model folder from `toolkit train`.")],
    diversity: Annotated[int | None, typer.Option(min=2, help="In each block of this many tasks, at most 3 per article and no near copies.")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or mps.")] = "auto",
    url: Url = None,
    data_dir: DataDir = server.DEFAULT_DATA_DIR,
) -> None:
    """Re-score the project's unlabelled tasks with a model and order the queue by its uncertainty."""
    from toolkit.studio.rerank import rerank

    done = rerank(_studio(url, data_dir), project, model, diversity=diversity, device=device)
    console.print(f"{done.unlabelled} unlabelled tasks re-scored with {done.model_version} "
                  f"({done.push.predictions_added} predictions added, {done.push.predictions_updated} updated; "
                  f"{done.labelled} labelled tasks left alone, {done.skipped} without a sentence id skipped); "
                  "the project now uses uncertainty sampling on this version")


@app.command("connect")
def connect_command(
    project: Project,
    backend: Annotated[str, typer.Option("--backend", help="URL of a running `toolkit serve`, as Label Studio reaches it.")],
    url: Url = None,
    data_dir: DataDir = server.DEFAULT_DATA_DIR,
) -> None:
    """Register `toolkit serve` as the project's ML backend and annotation webhook (re-running adds nothing)."""
    from toolkit.studio.connect import connect_backend

    done = connect_backend(_studio(url, data_dir), project, backend)
    added = ", ".join(done.created) or "nothing new"
    console.print(f"project {done.project_id}: ML backend {done.ml_backend_id}, webhook {done.webhook_id} ({added})")


def _write_reviewed(records: list[dict[str, Any]], out: Path) -> None:
    write_records(out, records)
    flagged = sum(bool(r["labels"] and r["labels"].get("needs_adjudication")) for r in records)
    annotated = sum(bool(r["annotations"]) for r in records)
    console.print(f"{len(records)} tasks, {annotated} annotated, {flagged} need adjudication -> {out}")


@app.command("pull")
def pull_command(
    project: Project,
    out: Annotated[Path, typer.Option("--out", "-o", help="Reviewed records file.")],
    policy: PolicyOpt = "majority",
    priority: PriorityOpt = None,
    url: Url = None,
    data_dir: DataDir = server.DEFAULT_DATA_DIR,
) -> None:
    """Download a project's annotations as reviewed sentence records."""
    records = pull(_studio(url, data_dir), project, policy=policy, priority=priority or ())  # type: ignore[arg-type]
    _write_reviewed(records, out)


@app.command("import-export")
def import_export(
    export: Annotated[Path, typer.Argument(help="Label Studio JSON export file.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Reviewed records file.")],
    policy: PolicyOpt = "majority",
    priority: PriorityOpt = None,
) -> None:
    """Convert a Label Studio JSON export file into reviewed sentence records."""
    _write_reviewed(read_export(export, policy=policy, priority=priority or ()), out)  # type: ignore[arg-type]


@app.command()
def agreement(
    reviewed: Annotated[Path, typer.Argument(help="Reviewed records (from pull/import-export) or an export .json.")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write the report JSON here.")] = None,
) -> None:
    """Inter-annotator agreement: Cohen's and Fleiss' kappa, Krippendorff's alpha, per-topic kappa."""
    records = read_reviewed(reviewed)
    report = agreement_report(records, load_schema())
    table = Table(title="agreement")
    for column in ("field", "units", "% agree", "Cohen κ (pairs)", "Fleiss κ", "Krippendorff α"):
        table.add_column(column)
    rows = [(name, stats) for name, stats in report["fields"].items()]
    rows += [(f"  {label}", stats) for per in report["per_label"].values() for label, stats in per.items()]
    for name, stats in rows:
        pairs = ", ".join(f"{k}: {v:.3f}" for k, v in stats["cohen_kappa"].items())
        table.add_row(name, str(stats["units"]), f"{stats['percent_agreement']:.3f}", pairs,
                      f"{stats['fleiss_kappa']:.3f}", f"{stats['krippendorff_alpha']:.3f}")
    console.print(table)
    console.print(f"{len(report['disagreements'])} disagreements")
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
        console.print(f"report -> {out}")



