"""Training examples: reviewed records split by article into a saved DatasetDict, plus sentiment-only
benchmark sources (ChnSentiCorp, FinFE). A field a source lacks is stored as missing (-1 / mask 0) so the
loss can skip it."""

from __future__ import annotations

import csv
import hashlib
import json
import random
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from toolkit.annotate import RulePreannotator
from toolkit.errors import InputError, RecordError
from toolkit.ingest.normalize import normalize
from toolkit.io import Skipped, read_records
from toolkit.labels import LabelSchema, load_schema
from toolkit.studio.adjudicate import Policy, resolve
from toolkit.studio.agreement import agreement_report
from toolkit.studio.export import read_reviewed
from toolkit.train.config import Source

MISSING = -1
SPLITS = ("train", "dev", "test")
_FINFE_LABELS = {"0": "negative", "0.5": "neutral", "1": "positive"}
_CHNSENTICORP_LABELS = {"0": "negative", "1": "positive"}


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def encode_labels(labels: dict[str, Any] | None, schema: LabelSchema) -> dict[str, Any]:
    """Label names to training targets: class index or -1 for single-choice; multi-hot plus a mask for multi."""
    labels = labels or {}
    out: dict[str, Any] = {}
    for task in schema.tasks:
        value = labels.get(task.name)
        if task.kind == "single":
            out[task.name] = task.label_names.index(value) if value in task.label_names else MISSING
        else:
            known = value is not None
            out[task.name] = [1.0 if known and name in value else 0.0 for name in task.label_names]
            out[f"{task.name}_mask"] = 1 if known else 0
    return out


def example(record: dict[str, Any], schema: LabelSchema, source: str) -> dict[str, Any]:
    return {
        "id": str(record["id"]),
        "article_id": str(record.get("article_id", "")),
        "text": record["text"],
        "source": source,
        **encode_labels(record.get("labels"), schema),
    }


def reviewed_examples(
    paths: Sequence[str | Path], schema: LabelSchema, *, policy: Policy = "majority", priority: Sequence[Any] = ()
) -> list[dict[str, Any]]:
    """Examples from reviewed records (JSONL/Parquet) or Label Studio exports (.json), labels re-resolved with
    ``policy`` from each record's annotations; a unit with no resolved field is left out."""
    return [
        ex for path in map(Path, paths)
        for ex in _labelled(read_reviewed(path, schema, policy=policy, priority=priority), schema, path.name,
                            policy=policy, priority=priority)
    ]


def _labelled(
    records: Iterable[dict[str, Any]], schema: LabelSchema, source: str, *, policy: Policy, priority: Sequence[Any],
    skipped: list[Skipped] | None = None,
) -> list[dict[str, Any]]:
    """Examples of the records with labels; a record of the wrong shape goes to ``skipped`` (or raises without it)."""
    out = []
    for number, record in enumerate(records, 1):
        problem = reviewed_problem(record, schema)
        if problem:
            if skipped is None:
                raise RecordError(f"{source}: record {number}: {problem}")
            skipped.append(Skipped(f"{source}: record {number}", problem))
            continue
        if record.get("annotations"):
            record = dict(record, labels=resolve(record["annotations"], schema, policy=policy, priority=priority))
        labels = {k: v for k, v in (record.get("labels") or {}).items() if k in schema.task_names}
        if labels:
            out.append(example(dict(record, labels=labels), schema, source))
    return out


def _field_problem(name: str, kind: str, value: Any) -> str | None:
    if value is None:
        return None
    if kind == "single" and not isinstance(value, str):
        return f"{name} is not a label name"
    if kind == "multi" and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
        return f"{name} is not a list of label names"
    return None


def reviewed_problem(record: Any, schema: LabelSchema) -> str | None:
    """Why ``record`` is not a reviewed record (``text``, ``labels`` and/or ``annotations`` of the schema's
    shapes), or None."""
    if not isinstance(record, dict):
        return "not an object"
    if not isinstance(record.get("text"), str):
        return "no 'text' string"
    if record.get("id") is None:
        return "no 'id'"
    blocks = [("labels", record.get("labels"))]
    annotations = record.get("annotations")
    if annotations is not None and not isinstance(annotations, list):
        return "'annotations' is not a list"
    blocks += [("an annotation", a) for a in annotations or []]
    for where, block in blocks:
        if block is None:
            continue
        if not isinstance(block, dict):
            return f"{where} is not an object"
        for task in schema.tasks:
            if problem := _field_problem(task.name, task.kind, block.get(task.name)):
                return f"in {where}, {problem}"
        mentions = block.get("mentions")
        if mentions is not None and not (isinstance(mentions, list) and all(
                isinstance(m, dict) and isinstance(m.get("start"), int) and isinstance(m.get("end"), int) for m in mentions)):
            return f"in {where}, mentions are not spans with start and end"
    return None


def in_memory_examples(data: Any, schema: LabelSchema) -> list[dict[str, Any]]:
    """Training examples from records in memory or a ``datasets.Dataset``: rows already encoded (a split of
    ``toolkit dataset build``) are used as they are, reviewed records are encoded (annotations resolved by
    majority)."""
    rows = [dict(r) for r in data]
    if rows and all(task.name in rows[0] and not isinstance(rows[0][task.name], str) for task in schema.tasks):
        return rows
    missing = [i for i, r in enumerate(rows) if not isinstance(r.get("text"), str)]
    if missing:
        raise InputError(f"record {missing[0]} has no text; each record needs 'text' and 'labels' or 'annotations'")
    return _labelled(({"id": i, **r} for i, r in enumerate(rows)), schema, "memory", policy="majority", priority=())


def _sentiment_only(rows: Iterable[tuple[str, str]], mapping: dict[str, str], schema: LabelSchema, name: str) -> list[dict[str, Any]]:
    out = []
    for i, (raw, text) in enumerate(rows):
        if raw not in mapping or not text.strip():
            continue  # FinFE has one row with a garbage label
        out.append(example({"id": f"{name}-{i}", "article_id": f"{name}-{i}", "text": text,
                            "labels": {"sentiment": mapping[raw]}}, schema, name))
    return out


def chnsenticorp_examples(path: str | Path, schema: LabelSchema) -> list[dict[str, Any]]:
    """Sentiment-only examples from a ChnSentiCorp TSV (``label<TAB>text_a``, 1/0 -> positive/negative)."""
    path = Path(path)
    with path.open(encoding="utf-8") as fh:
        reader = csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(reader, None)
        if header != ["label", "text_a"]:
            raise InputError(f"{path}: expected a ChnSentiCorp TSV with header 'label<TAB>text_a', got {header}")
        return _sentiment_only(((r[0], r[1]) for r in reader if len(r) == 2), _CHNSENTICORP_LABELS, schema, path.stem)


def finfe_examples(path: str | Path, schema: LabelSchema) -> list[dict[str, Any]]:
    """Sentiment-only examples from FinFE JSON (``[text, "0"|"0.5"|"1"]`` -> negative/neutral/positive)."""
    path = Path(path)
    rows = json.loads(path.read_text(encoding="utf-8"))
    return _sentiment_only(((str(r[1]), str(r[0])) for r in rows), _FINFE_LABELS, schema, path.stem)


WEAK = "weak:"  # the source prefix of rule-labelled examples


def weak_examples(path: str | Path, schema: LabelSchema, *, min_confidence: float,
                  rules: RulePreannotator | None = None) -> list[dict[str, Any]]:
    """Unlabelled texts labelled by the rules where they are confident: a single-choice task where its top
    probability reaches ``min_confidence``, the topics where every topic's score is at least that far from
    undecided (≥ ``min_confidence`` or ≤ 1 - ``min_confidence``). Other fields stay missing. A text whose
    only confident label is "no topic" is left out: in a feed of general finance headlines most are."""
    path = Path(path)
    if path.suffix == ".txt":
        texts = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    else:
        texts = [r["text"] for r in read_records(path) if isinstance(r.get("text"), str) and r["text"].strip()]
    rules = rules or RulePreannotator(schema)
    out = []
    for i, (text, block) in enumerate(zip(texts, rules.predict(texts))):
        labels: dict[str, Any] = {}
        for task in schema.tasks:
            if task.name not in block:
                continue
            scores = block[task.name]["scores"]
            if task.kind == "single" and scores[block[task.name]["label"]] >= min_confidence:
                labels[task.name] = block[task.name]["label"]
            elif task.kind == "multi" and all(s >= min_confidence or s <= 1 - min_confidence for s in scores.values()):
                labels[task.name] = block[task.name]["labels"]
        if any(v for v in labels.values()):  # an empty topic set alone (most headlines) teaches little
            out.append(example({"id": f"{path.stem}-{i}", "article_id": f"{path.stem}-{i}", "text": text,
                                "labels": labels}, schema, WEAK + path.name))
    return out


def prefer_reviewed(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Drop rule-labelled (weak) examples whose sentence also has a reviewed label: the reviewer wins."""
    reviewed = {normalize(r["text"]) for r in rows if not str(r.get("source", "")).startswith(WEAK)}
    return [r for r in rows if not str(r.get("source", "")).startswith(WEAK) or normalize(r["text"]) not in reviewed]


def source_examples(source: Source, schema: LabelSchema, *, seed: int,
                    rules: RulePreannotator | None = None) -> list[dict[str, Any]]:
    """Examples of one configured source, with its ``limit`` and resampling ``weight`` applied."""
    if not source.path.exists():
        raise InputError(f"{source.path}: data source not found")
    if source.format == "dataset":
        from datasets import load_from_disk

        dataset = load_from_disk(str(source.path))
        split = source.split or "train"
        if split not in dataset:
            raise InputError(f"{source.path}: no split {split!r} (has {', '.join(dataset)})")
        rows = [dict(r) for r in dataset[split]]
    elif source.format == "reviewed":
        rows = reviewed_examples([source.path], schema)
    elif source.format == "chnsenticorp":
        rows = chnsenticorp_examples(source.path, schema)
    elif source.format == "weak":
        rows = weak_examples(source.path, schema, min_confidence=source.min_confidence, rules=rules)
    else:
        rows = finfe_examples(source.path, schema)
    if source.limit:
        rows = rows[: source.limit]
    whole, part = divmod(source.weight, 1)
    rng = random.Random(seed)
    return rows * int(whole) + rng.sample(rows, round(part * len(rows)))


def split_by_article(
    examples: list[dict[str, Any]], ratios: Sequence[float], *, seed: int
) -> dict[str, list[dict[str, Any]]]:
    """Assign whole articles to train/dev/test so no article is in two splits.

    Articles are shuffled with ``seed``; each goes to the split furthest below its share of units, except
    that a split with a positive ratio that is still empty takes the article when no other article is left
    for it.
    """
    if len(ratios) != 3 or any(r < 0 for r in ratios) or abs(sum(ratios) - 1) > 1e-6:
        raise ValueError(f"ratios must be three non-negative numbers summing to 1, got {list(ratios)}")
    by_article: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for ex in examples:
        by_article[ex["article_id"]].append(ex)
    articles = sorted(by_article)
    random.Random(seed).shuffle(articles)
    wanted = [s for s, r in zip(SPLITS, ratios) if r > 0]
    if len(articles) < len(wanted):
        raise InputError(f"{len(articles)} article(s) cannot fill {len(wanted)} splits without sharing an article")
    splits: dict[str, list[dict[str, Any]]] = {s: [] for s in SPLITS}
    total = len(examples)
    for i, article in enumerate(articles):
        empty = [s for s in wanted if not splits[s]]
        candidates = empty if len(articles) - i <= len(empty) else wanted
        target = max(candidates, key=lambda s: ratios[SPLITS.index(s)] - len(splits[s]) / total)
        splits[target].extend(by_article[article])
    return splits


def distribution(examples: list[dict[str, Any]], schema: LabelSchema) -> dict[str, dict[str, int]]:
    dist: dict[str, dict[str, int]] = {}
    for task in schema.tasks:
        counts: Counter[str] = Counter()
        for ex in examples:
            if task.kind == "single":
                counts[task.label_names[ex[task.name]] if ex[task.name] != MISSING else "(missing)"] += 1
            elif ex[f"{task.name}_mask"]:
                counts.update(n for n, v in zip(task.label_names, ex[task.name]) if v)
                counts["(none)"] += not any(ex[task.name])
            else:
                counts["(missing)"] += 1
        dist[task.name] = dict(sorted(counts.items()))
    return dist


def agreement_summary(records: Sequence[dict[str, Any]], schema: LabelSchema) -> dict[str, dict[str, Any]]:
    """Per task, how far the annotators agreed: units annotated more than once, the share of those in full
    agreement, Krippendorff's alpha and the mean pairwise Cohen's kappa (a multi-choice task compared as
    whole label sets). Tasks nobody annotated twice are left out: one annotator says nothing about how
    hard the labels are."""
    out = {}
    for name, stats in agreement_report(records, schema)["fields"].items():
        if not stats["units"]:
            continue
        kappas = list(stats["cohen_kappa"].values())
        out[name] = {
            "units": stats["units"],
            "percent_agreement": round(stats["percent_agreement"], 3),
            "krippendorff_alpha": round(stats["krippendorff_alpha"], 3),
            "cohen_kappa": round(sum(kappas) / len(kappas), 3) if kappas else None,
        }
    return out


def build_dataset(
    inputs: Sequence[str | Path],
    out: str | Path,
    *,
    ratios: Sequence[float] = (0.8, 0.1, 0.1),
    seed: int = 13,
    policy: Policy = "majority",
    priority: Sequence[Any] = (),
    schema: LabelSchema | None = None,
) -> dict[str, Any]:
    """Build and save a ``datasets.DatasetDict`` (train/dev/test split by article) and ``manifest.json``."""
    from datasets import Dataset, DatasetDict

    schema = schema or load_schema()
    records = {Path(p): read_reviewed(Path(p), schema, policy=policy, priority=priority) for p in inputs}
    skipped: list[Skipped] = []
    examples = [ex for path, recs in records.items()
                for ex in _labelled(recs, schema, str(path), policy=policy, priority=priority, skipped=skipped)]
    if not examples:
        raise InputError("no labelled units in the inputs (are they reviewed records or a Label Studio export?)")
    splits = split_by_article(examples, ratios, seed=seed)
    out = Path(out)
    DatasetDict({name: Dataset.from_list(rows) for name, rows in splits.items() if rows}).save_to_disk(str(out))
    manifest = {
        "sources": [{"path": str(p), "sha256": sha256(Path(p))} for p in inputs],
        "seed": seed,
        "ratios": list(ratios),
        "adjudication_policy": policy,
        "agreement": agreement_summary([r for recs in records.values() for r in recs
                                        if reviewed_problem(r, schema) is None], schema),
        "skipped": [{"source": item.source, "reason": item.reason} for item in skipped],
        "splits": {
            name: {"units": len(rows), "articles": sorted({r["article_id"] for r in rows}),
                   "labels": distribution(rows, schema)}
            for name, rows in splits.items()
        },
    }
    (out / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
    return manifest
