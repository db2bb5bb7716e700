"""``toolkit predict``: batch inference with a trained model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from toolkit.errors import InputError
from toolkit.io import Skipped, read_records
from toolkit.predict.onnx import OnnxClassifier, export_onnx, label_agreement
from toolkit.predict.run import run_predict
from toolkit.model import TextClassifier

AGREEMENT_GOAL = 0.99


def predict_command(
    inputs: Annotated[list[Path], typer.Argument(help="Articles (files, folders, article JSONL) or sentence JSONL.")],
    model: Annotated[Path, typer.Option("--model", "-m", help="Model folder from `toolkit train`.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output: .jsonl, .parquet or .csv.")],
    resume: Annotated[bool, typer.Option(help="Skip sentence ids already in --out and append the rest.")] = False,
    batch_size: Annotated[int, typer.Option(min=1, help="Units per forward pass.")] = 64,
    backend: Annotated[str, typer.Option(help="'torch', or 'onnx' for a folder from `toolkit export-onnx`.")] = "torch",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    device: Annotated[str, typer.Option(help="auto (CUDA, else MPS, else CPU), cpu, cuda or mps.")] = "auto",
    engine: Annotated[str, typer.Option(help="'local' (this process) or 'ray' (Ray Data; --out is then a folder "
                                             "of shards, and a re-run skips the shards already written).")] = "local",
    address: Annotated[str | None, typer.Option(help="Ray cluster to join (e.g. ray://head:10001 or auto); "
                                                     "default: a local Ray runtime on this machine's CPUs.")] = None,
    workers: Annotated[int | None, typer.Option(min=1, help="Ray: model actors (default: one per --threads CPUs).")] = None,
    threads: Annotated[int, typer.Option(min=1, help="Ray: intra-op threads per actor.")] = 1,
    shard_format: Annotated[str, typer.Option("--format", help="Ray: shard format, parquet or jsonl.")] = "parquet",
) -> None:
    """Predict sentiment, stance and topics for new articles; writes sentence and article summaries."""
    if engine == "ray":
        if device not in ("auto", "cpu"):
            raise InputError(f"--device {device}: the Ray engine's actors run on CPUs; drop --device or use "
                             "--engine local")
        if resume:
            raise InputError("--resume is for --engine local: a Ray run always skips the shards already in --out")
        _predict_ray(model, inputs, out, address=address, workers=workers, threads=threads, batch_size=batch_size,
                     backend=backend, fmt=shard_format, quiet=quiet)
        return
    if engine != "local":
        raise InputError(f"unknown engine {engine!r}; use 'local' or 'ray'")
    result = run_predict(model, inputs, out, resume=resume, batch_size=batch_size, show_progress=not quiet,
                         backend=backend, device=device)
    console = Console()
    _print_skipped(console, result["skipped_inputs"])
    console.print(f"{result['predicted']} sentences predicted with {result['model_version']}"
                  + (f" ({result['skipped_existing']} already in the output)" if result["skipped_existing"] else ""))
    console.print(f"sentences -> {result['out']}\narticles  -> {result['articles']}", soft_wrap=True)


def _print_skipped(console: Console, skipped: list[Skipped]) -> None:
    for item in skipped:
        console.print(f"[yellow]skipped[/yellow] {item.source}: {item.reason}", soft_wrap=True)


def _predict_ray(model: Path, inputs: list[Path], out: Path, *, address: str | None, workers: int | None,
                 threads: int, batch_size: int, backend: str, fmt: str, quiet: bool) -> None:
    from toolkit.predict.distributed import run_predict_ray

    result = run_predict_ray(model, inputs, out, address=address, workers=workers, threads=threads,
                             batch_size=batch_size, backend=backend, fmt=fmt, show_progress=not quiet)
    console = Console()
    _print_skipped(console, result.skipped_inputs)
    for source in result.failed_inputs:
        console.print(f"[red]failed[/red] {source}: no article read; it has no shard and a re-run tries it again",
                      soft_wrap=True)
    console.print(f"{result.sentences:,} sentences in {result.articles:,} articles predicted in {result.seconds:.1f} s "
                  f"({result.throughput:,.0f} sentences/s); {result.shards_written} shards written, "
                  f"{result.shards_existing} already there, {len(result.failed_inputs)} inputs failed")
    console.print(f"shards   -> {out / 'sentences'}\narticles -> {out / 'articles.jsonl'}\nmanifest -> "
                  f"{out / 'manifest.json'}", soft_wrap=True)


def export_onnx_command(
    model: Annotated[Path, typer.Option("--model", "-m", help="Model folder from `toolkit train`.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for model.onnx and the tokenizer.")],
    int8: Annotated[bool, typer.Option("--int8", help="Dynamic int8 quantisation of the weights.")] = False,
    check: Annotated[Path | None, typer.Option(
        help="Sentence JSONL/Parquet whose `text` the export is checked on: label agreement with the PyTorch "
             "model per task, printed and written to OUT/agreement.json.")] = None,
) -> None:
    """Export a model to ONNX (optionally int8) for `toolkit predict --backend onnx`."""
    texts = _check_texts(check) if check else None
    folder = export_onnx(model, out, int8=int8)
    console = Console()
    console.print(f"ONNX{' int8' if int8 else ''} model -> {folder / 'model.onnx'}")
    if texts is None:
        return
    reference = TextClassifier.load(model)
    agreement = label_agreement(reference, OnnxClassifier.load(folder), texts)
    multi = {task["name"] for task in reference.tasks if task["kind"] == "multi"}
    (folder / "agreement.json").write_text(json.dumps({"texts": len(texts), "source": str(check), **agreement},
                                                      indent=2), encoding="utf-8")
    for key, share in agreement.items():
        colour = "green" if share >= AGREEMENT_GOAL else "yellow"
        what = ("whole label sets equal" if key.endswith("_sets") else
                "label decisions equal" if key in multi else "labels equal")
        console.print(f"{key}: [{colour}]{100 * share:.2f} %[/{colour}] {what} to PyTorch's ({len(texts)} texts)")
    if min(agreement.values()) < AGREEMENT_GOAL:
        console.print(f"[yellow]below {100 * AGREEMENT_GOAL:.0f} % agreement: this model's decisions are sensitive to "
                      "int8 rounding; prefer the fp32 export[/yellow]")


def _check_texts(path: Path) -> list[str]:
    texts = []
    for i, record in enumerate(read_records(path), start=1):
        if not isinstance(record.get("text"), str):
            raise InputError(f"{path}: record {i} has no 'text' to check the export on")
        texts.append(record["text"])
    return texts
