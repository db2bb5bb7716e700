"""``toolkit preannotate``: a thin command over :class:`toolkit.annotate.RulePreannotator`."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from toolkit.annotate.rules import RulePreannotator, RulesConfig
from toolkit.io import RecordWriter, Skipped, refuse_overwrite, text_records
from toolkit.labels import load_schema
from toolkit.progress import track

_SHOWN = 5


def preannotate_command(
    input: Annotated[Path, typer.Argument(help="Sentence records (.jsonl/.parquet) or any JSONL with 'text'.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output records with a 'predictions' block.")],
    config: Annotated[Path | None, typer.Option(help="Rules config YAML (default: built-in settings).")] = None,
    lexicon: Annotated[Path | None, typer.Option(help="Lexicon folder (default: labels/lexicon).")] = None,
    schema: Annotated[Path | None, typer.Option(help="Label schema YAML (default: labels/schema.yaml).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Pre-annotate sentences with rule-based sentiment, stance, topics and competitor mentions."""
    refuse_overwrite([input], [out])
    rules = RulePreannotator(
        load_schema(schema), lexicon, RulesConfig.from_file(config) if config else RulesConfig()
    )
    counts: dict[str, Counter[str]] = {"sentiment": Counter(), "stance": Counter(), "topics": Counter()}
    skipped: list[Skipped] = []
    records = text_records(input, skipped)
    with RecordWriter(out) as writer:
        for record in rules.annotate(track(records, total=None, description="preannotate", disable=quiet)):
            prediction = record["predictions"]
            counts["sentiment"][prediction["sentiment"]["label"]] += 1
            counts["stance"][prediction["stance"]["label"]] += 1
            counts["topics"].update(prediction["topics"]["labels"])
            writer.write(record)
    table = Table(title=f"preannotate ({rules.model_version}): {writer.count} units", show_header=False)
    for task, counter in counts.items():
        table.add_row(task, ", ".join(f"{label} {n}" for label, n in counter.most_common()))
    console = Console()
    console.print(table)
    for item in skipped[:_SHOWN]:  # lines naming files are not hard-wrapped, so a path can be copied whole
        console.print(f"[yellow]skipped[/yellow] {item.source}: {item.reason}", soft_wrap=True)
    if len(skipped) > _SHOWN:
        console.print(f"[yellow]skipped[/yellow] … and {len(skipped) - _SHOWN:,} more", soft_wrap=True)
    console.print(f"predictions -> {out}" + (f" ({len(skipped)} records skipped)" if skipped else ""), soft_wrap=True)
