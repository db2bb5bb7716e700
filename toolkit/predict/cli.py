"""``toolkit predict``: batch inference with a trained model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from toolkit.predict.onnx import export_onnx
from toolkit.predict.run import run_predict


def predict_command(
    inputs: Annotated[list[Path], typer.Argument(help="Articles (files, folders, article JSONL) or sentence JSONL.")],
    model: Annotated[Path, typer.Option("--model", "-m", help="Model folder from `toolkit train`.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output: .jsonl, .parquet or .csv.")],
    resume: Annotated[bool, typer.Option(help="Skip sentence ids already in --out and append the rest.")] = False,
    batch_size: Annotated[int, typer.Option(min=1, help="Units per forward pass.")] = 64,
    backend: Annotated[str, typer.Option(help="'torch', or 'onnx' for a folder from `toolkit export-onnx`.")] = "torch",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Predict sentiment, stance and topics for new articles; writes sentence and article summaries."""
    result = run_predict(model, inputs, out, resume=resume, batch_size=batch_size, show_progress=not quiet,
                         backend=backend)
    console = Console()
    for item in result["skipped_inputs"]:
        console.print(f"[yellow]skipped[/yellow] {item.source}: {item.reason}")
    console.print(f"{result['predicted']} sentences predicted with {result['model_version']}"
                  + (f" ({result['skipped_existing']} already in the output)" if result["skipped_existing"] else ""))
    console.print(f"sentences -> {result['out']}\narticles  -> {result['articles']}")


def export_onnx_command(
    model: Annotated[Path, typer.Option("--model", "-m", help="Model folder from `toolkit train`.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for model.onnx and the tokenizer.")],
    int8: Annotated[bool, typer.Option("--int8", help="Dynamic int8 quantisation of the weights.")] = False,
) -> None:
    """Export a model to ONNX (optionally int8) for `toolkit predict --backend onnx`."""
    folder = export_onnx(model, out, int8=int8)
    Console().print(f"ONNX{' int8' if int8 else ''} model -> {folder / 'model.onnx'}")
