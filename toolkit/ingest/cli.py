"""``toolkit ingest``: a thin command over :func:`toolkit.ingest.ingest`."""

from __future__ import annotations

import itertools
import operator
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from toolkit.config import IngestConfig
from toolkit.errors import ConfigError
from toolkit.ingest.pipeline import IngestSummary, NoArticleRead, ingest
from toolkit.io import sidecar_path

_SHOWN = 10  # skipped inputs, and warnings, printed; the rest are in <out>.log.jsonl


def print_summary(summary: IngestSummary, out: Path, console: Console, *, written: bool = True) -> None:
    """The run's counts and its first problems; ``written``: whether the outputs were written (a run that read
    no article writes none)."""
    table = Table(title="ingest summary", show_header=False)
    table.add_row("articles", str(summary.articles))
    table.add_row("units", str(summary.sentences))
    for kind, n in sorted(summary.by_kind.items()):
        table.add_row(f"  {kind}", str(n))
    table.add_row("duplicate units", str(summary.duplicates))
    table.add_row("boilerplate lines removed", str(summary.boilerplate.total()))
    for rule, n in summary.boilerplate.most_common():  # which rules fire: what to check when tuning them
        table.add_row(f"  {rule}", str(n))
    table.add_row("skipped inputs", str(len(summary.skipped)))
    console.print(table)
    # Lines naming files are never hard-wrapped, so a long path can be copied (and grepped) whole. A large
    # scraped JSONL can have thousands of bad lines: the first few of each level are shown, all are logged.
    log = sidecar_path(out, "log")
    for level, rows in itertools.groupby(summary.problems(), key=operator.itemgetter("level")):
        rows = list(rows)
        for row in rows[:_SHOWN]:
            console.print(f"[yellow]{level}[/yellow] {row['source']}: {row['message']}", soft_wrap=True)
        if len(rows) > _SHOWN:
            where = f" in {log}" if written else ""
            console.print(f"[yellow]{level}[/yellow] … and {len(rows) - _SHOWN:,} more{where}", soft_wrap=True)
    if written:
        console.print(
            f"sentences -> {out}\narticles  -> {sidecar_path(out, 'articles')}\nlog       -> {log}", soft_wrap=True
        )


def ingest_command(
    inputs: Annotated[list[Path], typer.Argument(help="Files (.txt .md .html .jsonl, or .gz of them) or folders of them.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Sentence records file (.jsonl or .parquet).")],
    max_chars: Annotated[int, typer.Option(help="Split units longer than this at a clause boundary.")] = 256,
    heading_max_chars: Annotated[int, typer.Option(help="Short lines without final punctuation are headings.")] = 40,
    boilerplate: Annotated[
        Path | None, typer.Option(help="Boilerplate rule file (default: configs/boilerplate.yaml).")
    ] = None,
    encoding: Annotated[
        str | None,
        typer.Option(help="Encoding of the input files that are not UTF-8, e.g. gb18030 or big5 (default: detected)."),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Clean and segment articles into sentence records with stable ids and offsets."""
    try:
        config = IngestConfig(
            max_chars=max_chars, heading_max_chars=heading_max_chars, boilerplate=boilerplate, encoding=encoding
        )
    except ValidationError as exc:  # the settings' bounds live in IngestConfig; name the option that broke one
        err = exc.errors()[0]
        message = str(err["msg"]).removeprefix("Value error, ")  # a validator's own message, as written
        raise ConfigError(f"--{str(err['loc'][0]).replace('_', '-')}: {message}") from None
    try:
        summary = ingest(inputs, out, config, show_progress=not quiet)
    except NoArticleRead as exc:
        print_summary(exc.summary, out, Console(), written=False)
        raise
    print_summary(summary, out, Console())
