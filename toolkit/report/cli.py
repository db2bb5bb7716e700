"""``toolkit report``: an HTML page for a pipeline work dir."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from toolkit.report.html import build_report


def report_command(
    workdir: Annotated[Path, typer.Argument(help="Work dir of `toolkit pipeline`.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="HTML file to write.")] = Path("report.html"),
    reviewed: Annotated[list[Path] | None, typer.Option(help="Reviewed records for the agreement section.")] = None,
) -> None:
    """Write one self-contained HTML report: corpus, labels, agreement, evaluation, stance over time, model card."""
    Console().print(f"report -> {build_report(workdir, out, reviewed=reviewed)}")
