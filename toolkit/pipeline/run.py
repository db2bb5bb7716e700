"""``toolkit pipeline``: ingest → preannotate → (push) → (dataset → train → evaluate) → predict.

Every stage writes its files into the work dir. A stage runs only when the content hash of its inputs
(files and settings) differs from the one recorded in ``pipeline-state.json`` or its outputs are missing,
so re-running is cheap and safe.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from toolkit.errors import ConfigError
from toolkit.resources import config_path

STATE_FILE = "pipeline-state.json"


class StudioSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str | None = None
    data_dir: Path = Path("studio-data")
    project: str = "toolkit review"
    order: str = "uncertainty"


class DatasetSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ratios: tuple[float, float, float] = (0.6, 0.2, 0.2)
    seed: int = 13


class PipelineConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ingest: dict[str, Any] = Field(default_factory=dict)
    rules: Path | None = None
    studio: StudioSettings = Field(default_factory=StudioSettings)
    reviewed: list[Path] = Field(default_factory=list)
    train_config: Path = Path("configs/tiny.yaml")
    dataset: DatasetSettings = Field(default_factory=DatasetSettings)

    @classmethod
    def load(cls, path: str | Path | None) -> PipelineConfig:
        path = Path(path) if path else config_path("pipeline.yaml")
        try:
            config = cls.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"{path}: cannot read pipeline config: {exc}") from None
        except ValidationError as exc:
            err = exc.errors()[0]
            raise ConfigError(f"{path}: field {'.'.join(map(str, err['loc']))}: {err['msg']}") from None
        base = path.resolve().parent.parent

        def here(p: Path) -> Path:
            return p if p.is_absolute() or p.exists() or not (base / p).exists() else base / p

        config.rules = here(config.rules) if config.rules else None
        config.reviewed = [here(p) for p in config.reviewed]
        config.train_config = here(config.train_config)
        return config


def fingerprint(paths: Sequence[Path], settings: Any) -> str:
    """sha256 over the content of every file (folders recursively) and the JSON of ``settings``."""
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode())
    for path in sorted(Path(p) for p in paths):
        files = sorted(f for f in path.rglob("*") if f.is_file()) if path.is_dir() else [path]
        for f in files:
            digest.update(str(f.relative_to(path) if path.is_dir() else f.name).encode())
            digest.update(f.read_bytes())
    return digest.hexdigest()


@dataclass
class StageResult:
    name: str
    status: str  # "ran", "skipped (unchanged)", "skipped (…)"
    outputs: list[Path] = field(default_factory=list)


class Pipeline:
    def __init__(self, inputs: Sequence[str | Path], workdir: str | Path, config: PipelineConfig, *,
                 studio: bool = False, show_progress: bool = True, log: Callable[[str], None] = print) -> None:
        self.inputs = [Path(p) for p in inputs]
        self.workdir = Path(workdir)
        self.config = config
        self.studio = studio or config.studio.url is not None
        self.show_progress = show_progress
        self.log = log
        self.state_path = self.workdir / STATE_FILE
        self.state: dict[str, str] = json.loads(self.state_path.read_text()) if self.state_path.is_file() else {}

    def _stage(self, name: str, inputs: Sequence[Path], settings: Any, outputs: Sequence[Path], run: Callable[[], None]) -> StageResult:
        key = fingerprint(inputs, settings)
        if self.state.get(name) == key and all(o.exists() for o in outputs):
            self.log(f"[{name}] unchanged, skipped")
            return StageResult(name, "skipped (unchanged)", list(outputs))
        self.log(f"[{name}] running")
        run()
        self.state[name] = key
        self.state_path.write_text(json.dumps(self.state, indent=2), encoding="utf-8")
        return StageResult(name, "ran", list(outputs))

    def run(self) -> list[StageResult]:
        from toolkit.annotate import RulePreannotator, RulesConfig
        from toolkit.config import IngestConfig
        from toolkit.evaluate.report import evaluate_model
        from toolkit.ingest import ingest
        from toolkit.io import RecordWriter, read_records, sidecar_path
        from toolkit.predict.run import run_predict
        from toolkit.resources import data_dir
        from toolkit.train.config import DataConfig, Source, load_train_config
        from toolkit.train.data import build_dataset
        from toolkit.train.trainer import Trainer

        cfg, wd = self.config, self.workdir
        wd.mkdir(parents=True, exist_ok=True)
        sentences, pre = wd / "sentences.jsonl", wd / "preannotated.jsonl"
        def ingest_stage() -> None:
            summary = ingest(self.inputs, sentences, IngestConfig(**cfg.ingest), show_progress=self.show_progress)
            problems = len(summary.problems())
            log = f"; {problems} skipped inputs or warnings, listed in {sidecar_path(sentences, 'log')}" if problems else ""
            self.log(f"[ingest] {summary.articles} articles, {summary.sentences} units{log}")

        results = [self._stage("ingest", self.inputs, cfg.ingest, [sentences], ingest_stage)]

        def preannotate() -> None:
            rules = RulePreannotator(config=RulesConfig.from_file(cfg.rules) if cfg.rules else RulesConfig())
            with RecordWriter(pre) as writer:
                for record in rules.annotate(read_records(sentences)):
                    writer.write(record)

        rule_inputs = [sentences, data_dir("labels")] + ([cfg.rules] if cfg.rules else [])
        results.append(self._stage("preannotate", rule_inputs, {}, [pre], preannotate))

        if self.studio:
            results.append(self._push(pre))
        else:
            results.append(StageResult("push", "skipped (no Label Studio configured; use --studio)"))

        model_best = wd / "model" / "model-best"
        if cfg.reviewed:
            dataset = wd / "dataset"
            results.append(self._stage(
                "dataset", cfg.reviewed, cfg.dataset.model_dump(), [dataset],
                lambda: build_dataset(cfg.reviewed, dataset, ratios=cfg.dataset.ratios, seed=cfg.dataset.seed)))

            def train() -> None:
                train_cfg = load_train_config(cfg.train_config)
                train_cfg.data = DataConfig(train=[Source(format="dataset", path=dataset, split="train")],
                                            dev=[Source(format="dataset", path=dataset, split="dev")])
                if train_cfg.rule_prior and train_cfg.rules is None:
                    train_cfg.rules = cfg.rules  # the prior starts from the rules that pre-annotated
                Trainer(train_cfg, wd / "model", config_path=str(cfg.train_config), show_progress=self.show_progress).train(overwrite=True)

            results.append(self._stage("train", [dataset, cfg.train_config], {}, [model_best], train))
            report = wd / "report"
            results.append(self._stage("evaluate", [model_best, dataset], {}, [report / "metrics.json"],
                                       lambda: evaluate_model(model_best, dataset, report, split="test")))
        else:
            results.append(StageResult("train", "skipped (no reviewed data: set `reviewed:` in the config)"))
        if model_best.is_dir():
            predictions = wd / "predictions.jsonl"
            results.append(self._stage("predict", [sentences, model_best], {}, [predictions],
                                       lambda: run_predict(model_best, [sentences], predictions, show_progress=self.show_progress)))
        else:
            results.append(StageResult("predict", "skipped (no trained model yet)"))
        return results

    def _push(self, pre: Path) -> StageResult:
        from toolkit.io import read_records
        from toolkit.studio.client import Studio, resolve_connection
        from toolkit.studio.push import push

        settings = self.config.studio
        studio = Studio(resolve_connection(settings.url, data_dir=settings.data_dir))
        summary = push(studio, read_records(pre), settings.project, order=settings.order,  # type: ignore[arg-type]
                       show_progress=self.show_progress)
        self.log(f"[push] {summary.created} new tasks in {settings.project!r} at {studio.connection.url}. Next: review "
                 f"them there, then `toolkit studio pull --project '{settings.project}' --out reviewed.jsonl`, add it "
                 "to `reviewed:` in the pipeline config and run the pipeline again.")
        return StageResult("push", "ran")
