"""``toolkit pipeline``: the whole workflow in one command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from toolkit.pipeline.run import Pipeline, PipelineConfig


def pipeline_command(
    inputs: Annotated[list[Path], typer.Argument(help="Articles: files, folders, article JSONL.")],
    workdir: Annotated[Path, typer.Option("--workdir", "-w", help="Folder for every stage's files.")],
    config: Annotated[Path | None, typer.Option("--config", "-c", help="Pipeline config (default configs/pipeline.yaml).")] = None,
    studio: Annotated[bool, typer.Option("--studio", help="Push pre-annotations to Label Studio.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """Run ingest → preannotate → (push) → (dataset → train → evaluate) → predict, skipping unchanged stages."""
    console = Console()
    results = Pipeline(inputs, workdir, PipelineConfig.load(config), studio=studio, show_progress=not quiet,
                       log=console.print).run()
    table = Table(title=f"pipeline in {workdir}")
    table.add_column("stage")
    table.add_column("status")
    for result in results:
        table.add_row(result.name, result.status)
    console.print(table)
    console.print(f"report: `toolkit report {workdir} --out {workdir / 'report.html'}`")
