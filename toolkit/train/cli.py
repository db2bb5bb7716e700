"""``toolkit dataset build`` and ``toolkit train``: thin commands over the training API."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from toolkit.studio.server import DEFAULT_DATA_DIR
from toolkit.train.config import load_train_config, parse_overrides, with_reviewed
from toolkit.train.data import build_dataset
from toolkit.train.trainer import Trainer

dataset_app = typer.Typer(help="Build train/dev/test datasets from reviewed records.", no_args_is_help=True)
console = Console()


@dataset_app.command("build")
def dataset_build(
    reviewed: Annotated[list[Path], typer.Argument(help="Reviewed records (.jsonl/.parquet) or Label Studio exports (.json).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the saved DatasetDict and manifest.json.")],
    ratios: Annotated[tuple[float, float, float], typer.Option(help="train dev test shares (split by article).")] = (0.8, 0.1, 0.1),
    seed: Annotated[int, typer.Option(help="Seed of the article shuffle.")] = 13,
    policy: Annotated[str, typer.Option(help="Adjudication policy for disagreements: majority, priority, drop.")] = "majority",
) -> None:
    """Split reviewed sentences by article into a datasets.DatasetDict with a manifest."""
    manifest = build_dataset(reviewed, out, ratios=ratios, seed=seed, policy=policy)  # type: ignore[arg-type]
    table = Table(title=f"dataset -> {out}")
    for column in ("split", "units", "articles"):
        table.add_column(column)
    for name, split in manifest["splits"].items():
        table.add_row(name, str(split["units"]), str(len(split["articles"])))
    console.print(table)
    for item in manifest["skipped"][:5]:
        console.print(f"[yellow]skipped[/yellow] {item['source']}: {item['reason']}", soft_wrap=True)
    if len(manifest["skipped"]) > 5:
        console.print(f"[yellow]skipped[/yellow] … and {len(manifest['skipped']) - 5:,} more (in manifest.json)")


def train_command(
    config: Annotated[Path, typer.Option("--config", "-c", help="Training config YAML (see configs/).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder (model-best/, model-final/, checkpoint/).")] = Path("build/model"),
    resume: Annotated[bool, typer.Option(help="Continue from <out>/checkpoint (mid-epoch with checkpoint_every).")] = False,
    overwrite: Annotated[bool, typer.Option(help="Start over in an --out that holds an earlier run's checkpoint.")] = False,
    set_: Annotated[list[str] | None, typer.Option("--set", help="Override a config value: --set lr=2e-5 (repeatable).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    device: Annotated[str | None, typer.Option(help="auto, cpu, cuda or mps (default: the config's, else auto).")] = None,
    from_studio: Annotated[str | None, typer.Option("--from-studio", help="Pull this Label Studio project first and train on its reviewed tasks too.")] = None,
    url: Annotated[str | None, typer.Option("--url", help="Label Studio URL for --from-studio (default: the local server's).")] = None,
    data_dir: Annotated[Path, typer.Option("--data-dir", help="Folder of the local Label Studio server.")] = DEFAULT_DATA_DIR,
) -> None:
    """Fine-tune the encoder with sentiment, stance and topic heads from a YAML config.

    With --from-studio, the project's reviewed tasks are pulled to <out>/reviewed-from-studio.jsonl and
    added to the config's training data: `studio pull` and `train` as one step."""
    overrides = parse_overrides(set_ or [])
    if device is not None:
        overrides["device"] = device
    for key, value in overrides.items():
        console.print(f"override {key} = {value}")
    cfg = load_train_config(config, overrides)
    if from_studio:
        cfg = with_reviewed(cfg, _pull_project(from_studio, out, url, data_dir))
    result = Trainer(cfg, out, config_path=str(config), show_progress=not quiet).train(resume=resume, overwrite=overwrite)
    for entry in result.history:
        dev = ", ".join(f"{k} {v:.3f}" for k, v in entry["dev"].items())
        console.print(f"epoch {entry['epoch']}: loss {entry['train_loss']:.4f}  dev: {dev or '-'}")
    console.print(f"model-best -> {result.best_dir}\nmodel-final -> {result.final_dir}")


def _pull_project(project: str, out: Path, url: str | None, data_dir: Path) -> Path:
    from toolkit.io import write_records
    from toolkit.studio.client import Studio, resolve_connection
    from toolkit.studio.export import pull

    records = pull(Studio(resolve_connection(url, data_dir=data_dir)), project)
    path = out / "reviewed-from-studio.jsonl"
    write_records(path, records)
    reviewed = sum(r["labels"] is not None for r in records)
    console.print(f"pulled {len(records)} tasks of {project!r}, {reviewed} reviewed -> {path}")
    return path
