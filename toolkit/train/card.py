"""The model card (README.md in the Hub convention, YAML metadata first): what a saved model is, where its
encoder's weights came from, what it was trained on and how well it did on dev and test."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolkit.train.data import sha256

if TYPE_CHECKING:
    from toolkit.train.config import TrainConfig
    from toolkit.model import TextClassifier


def _agreement(agreement: dict[str, dict[str, Any]]) -> str:
    return "; ".join(
        f"{task}: {a['units']} units annotated twice or more, {a['percent_agreement']:.0%} in full agreement, "
        f"α {a['krippendorff_alpha']:.2f}" + (f", mean Cohen's κ {a['cohen_kappa']:.2f}" if a["cohen_kappa"] is not None else "")
        for task, a in agreement.items()
    )


def _lineage(config: TrainConfig) -> list[str]:
    if config.data is None:
        return ["| train, dev | records passed in memory (`Trainer(train_dataset=…)`) | |"]
    lines = []
    for split in ("train", "dev", "test"):
        for source in getattr(config.data, split):
            path = Path(source.path)
            if path.is_dir() and (path / "manifest.json").is_file():
                manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
                for origin in manifest.get("sources", []):
                    lines.append(f"| {split} | dataset `{path.name}` ({source.split or 'train'}) ← `{origin['path']}` | "
                                 f"`{origin['sha256'][:16]}` |")
                agreement = manifest.get("agreement")
                if agreement and split == "train":  # one line per dataset: it describes all its splits
                    lines.append(f"| | annotator agreement in `{path.name}` | {_agreement(agreement)} |")
            elif path.is_file():
                lines.append(f"| {split} | {source.format} `{path}` (weight {source.weight}) | `{sha256(path)[:16]}` |")
    return lines


def _prior(clf: TextClassifier) -> str:
    """The rule-prior line: which heads start from the rules, and how much each label now trusts them."""
    if clf.rules is None:
        return ""
    weights = "; ".join(
        f"{name}: " + ", ".join(f"{label} {w:.2f}" for label, w in zip(task["labels"], clf.model.prior_weights[name].detach().cpu().tolist()))
        for task in clf.tasks if (name := task["name"]) in clf.model.prior_weights
    )
    return (f"- **Rule prior**: heads add the rule pre-annotator's scores (`{clf.rules.model_version}`, saved in "
            f"`rules/`), weighted per label as learnt: {weights}\n")


def _origin(clf: TextClassifier) -> str:
    origin = clf.meta.get("encoder_origin") or {}
    source = origin.get("source")
    if not source:
        return f"`{clf.meta.get('encoder')}`"
    return (f"`{origin.get('upstream')}` ({origin.get('license')}), built offline from `{source['package']}=="
            f"{source['version']}` file `{source['file']}` (sha256 `{source['sha256']}`); {origin.get('conversion')}; "
            f"encoder weights sha256 `{origin.get('weights_sha256')}`")


def _metadata(clf: TextClassifier, extra: dict[str, Any]) -> Any:
    from huggingface_hub import EvalResult, ModelCardData

    origin = clf.meta.get("encoder_origin") or {}
    results = [
        EvalResult(task_type="text-classification", task_name="sentence classification", dataset_type="reviewed",
                   dataset_name="test split", dataset_split="test", metric_type="f1", metric_name=f"{task} macro-F1",
                   metric_value=round(value, 4))
        for task, value in (extra.get("test_metrics") or {}).items() if task != "score"
    ]
    return ModelCardData(
        library_name="transformers", pipeline_tag="text-classification", language=["zh"],
        tags=["toolkit", "multi-task", "finance", "chinese"], base_model=origin.get("upstream") or clf.meta.get("encoder"),
        license=origin.get("license", "other").lower() if origin.get("license") else None,
        model_name=clf.model_version, eval_results=results or None,
    )


def model_card(clf: TextClassifier, extra: dict[str, Any], config: TrainConfig, config_path: str | None) -> str:
    tasks = ", ".join(f"{t['name']} ({'/'.join(t['labels'])})" for t in clf.tasks)
    history = extra.get("history", [])
    rows = "\n".join(
        f"| {h['epoch']} | {h['step']} | {h['train_loss']:.4f} | "
        + ", ".join(f"{k} {v:.3f}" for k, v in h["dev"].items()) + " |"
        for h in history if h.get("train_loss") is not None
    )
    dist = "\n".join(f"- {task}: {counts}" for task, counts in extra.get("train_distribution", {}).items())
    thresholds = json.dumps(clf.meta.get("thresholds", {}), ensure_ascii=False)
    test = extra.get("test_metrics")
    test_line = (f"Test ({extra.get('test_examples')} examples, thresholds as tuned on dev): "
                 + ", ".join(f"{k} {v:.3f}" for k, v in test.items()) + "." if test else "No test split was given.")
    return f"""---
{_metadata(clf, extra).to_yaml()}
---
# {clf.model_version}

Multi-task classifier for Chinese financial and tech news units, trained with `toolkit train`
{f"(config `{config_path}`)" if config_path else ""}.

- **Tasks**: {tasks}
- **Encoder**: {_origin(clf)}; {clf.meta['pooling']} pooling, text prefix `{clf.meta['text_prefix']!r}`,
  max length {clf.meta['max_length']}
- **Load**: `toolkit.TextClassifier.load(folder)`. The folder is also a plain Hugging Face encoder:
  `AutoModel.from_pretrained(folder)` and `AutoTokenizer.from_pretrained(folder)` load it; the heads are in
  `heads.safetensors`, labels per task in `config.json` (`task_id2label`) and `toolkit_model.json`.
{_prior(clf)}
## Results

{test_line}
Best dev score (mean of per-task macro-F1): {extra.get('best_dev_score')}.

## Data lineage

| split | source | sha256 |
|---|---|---|
{chr(10).join(_lineage(config))}

Training examples: {extra.get('train_examples')}; dev examples: {extra.get('dev_examples')}.
Label distribution (train):
{dist}

## Hyper-parameters

```json
{json.dumps({k: v for k, v in extra.get('config', {}).items() if k != 'data'}, indent=2)}
```

## Training

| epoch | step | train loss | dev metrics |
|---|---|---|---|
{rows}

Training time {extra.get('train_seconds')} s on {extra.get('device')}, {extra.get('train_examples_per_second')} examples/s,
peak memory {extra.get('peak_memory_mb')} MB. Topic thresholds tuned on dev: `{thresholds}`.

## Known limits

- Trained on few articles; scores on other companies, other news sources or other years will be lower.
- Labels follow `labels/schema.yaml`; stance is read for an investor in the followed company only.
- Sentiment-only sources (ChnSentiCorp, FinFE) teach review/forum tone, not news tone.
- Probabilities are not calibrated beyond training; check the reliability diagram of `toolkit evaluate`.
"""
