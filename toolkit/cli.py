"""Root command: composes each stage's commands; holds no logic of its own."""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperGroup

from toolkit import __version__, labels_cli
from toolkit.errors import ToolkitError
from toolkit.annotate.cli import preannotate_command
from toolkit.evaluate.cli import evaluate_command
from toolkit.ingest.cli import ingest_command
from toolkit.pipeline.cli import pipeline_command
from toolkit.predict.cli import export_onnx_command, predict_command
from toolkit.report.cli import report_command
from toolkit.serve.cli import serve_command
from toolkit.studio import cli as studio_cli
from toolkit.train.cli import dataset_app, train_command
from toolkit.progress import stderr


class _Group(TyperGroup):
    """Prints toolkit errors, and system errors such as a full disk, as one line and exits 1 instead of
    showing a traceback."""

    def invoke(self, ctx: typer.Context) -> Any:  # click passes its own Context; typer's subclasses it
        try:
            return super().invoke(ctx)
        except ToolkitError as exc:
            stderr.print(f"[bold red]error[/bold red] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(code=1) from None
        except OSError as exc:  # the machine's, not the input's: a full disk, a folder removed mid-run
            where = f"{exc.filename}: " if exc.filename else ""
            stderr.print(f"[bold red]error[/bold red] {where}{exc.strerror or exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(code=1) from None


app = typer.Typer(
    cls=_Group,
    name="toolkit",
    help="Annotate Chinese financial and tech news: ingest, pre-annotate, review in Label Studio, train, predict.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"toolkit {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
) -> None:
    """Annotate Chinese financial and tech news: ingest, pre-annotate, review in Label Studio, train, predict."""


app.command("ingest")(ingest_command)
app.command("preannotate")(preannotate_command)
app.command("evaluate")(evaluate_command)
app.add_typer(dataset_app, name="dataset")
app.command("train")(train_command)
app.command("predict")(predict_command)
app.command("serve")(serve_command)
app.command("export-onnx")(export_onnx_command)
app.command("pipeline")(pipeline_command)
app.command("report")(report_command)
app.add_typer(studio_cli.app, name="studio")
app.add_typer(labels_cli.app, name="labels")
app.add_typer(labels_cli.lexicon_app, name="lexicon")


def main() -> None:
    app()
