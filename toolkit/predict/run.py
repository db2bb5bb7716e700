"""``predict``: articles or sentence records in, predicted sentence records and article summaries out."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson
from rich.progress import TextColumn

from toolkit.annotate import RulePreannotator
from toolkit.errors import InputError
from toolkit.ingest.sources import discover
from toolkit.io import RecordWriter, Skipped, read_records, refuse_overwrite, sidecar_path
from toolkit.predict.batch import predict_records
from toolkit.predict.inputs import input_records
from toolkit.predict.summary import ArticleSummary
from toolkit.progress import progress_bar
from toolkit.predict.onnx import load_classifier

OUTPUT_SUFFIXES = {".jsonl", ".parquet", ".csv"}


def _recover_partial(out: Path) -> None:
    """Before a resume: adopt the ``.tmp`` of a first run that was stopped (its work is kept), and cut a torn
    last line (a run killed mid-write) so the file holds whole records only."""
    tmp = out.with_name(out.name + ".tmp")
    if tmp.is_file() and not out.exists():
        tmp.replace(out)
    if not out.is_file() or out.stat().st_size == 0:
        return
    with out.open("rb+") as fh:
        fh.seek(-1, 2)
        if fh.read(1) == b"\n":
            return
        pos, end = fh.tell(), 0
        while pos > 0:  # the last newline, read backwards in blocks: the file may be large
            start = max(pos - (1 << 16), 0)
            fh.seek(start)
            cut = fh.read(pos - start).rfind(b"\n")
            if cut >= 0:
                end = start + cut + 1
                break
            pos = start
        fh.truncate(end)


def _resume_from(out: Path, summary: ArticleSummary) -> set[str]:
    """Ids already predicted in ``out``; their predictions go into ``summary`` so it covers the whole file."""
    _recover_partial(out)
    if not out.exists():
        return set()
    done = set()
    for record in read_records(out):
        done.add(str(record["id"]))
        summary.add(record)
    return done


def _csv_row(record: dict[str, Any]) -> dict[str, Any]:
    p = record["predictions"]
    row = {k: record.get(k) for k in ("id", "article_id", "index", "text")}
    for task, block in p.items():
        if isinstance(block, dict) and "scores" in block:
            row[task] = block["label"] if "label" in block else "|".join(block["labels"])
            row.update({f"{task}:{k}": round(v, 4) for k, v in block["scores"].items()})
    row["competitors"] = "|".join(sorted({m["entity"] for m in p.get("competitors", [])}))
    row["model_version"] = p["model_version"]
    return row


def run_predict(
    model_dir: str | Path, inputs: Iterable[str | Path], out: str | Path, *, resume: bool = False,
    batch_size: int = 64, window: int = 2048, show_progress: bool = True, backend: str = "torch", device: str = "auto",
) -> dict[str, Any]:
    out = Path(out)
    if out.suffix.lower() not in OUTPUT_SUFFIXES:
        raise InputError(f"{out}: output must end in .jsonl, .parquet or .csv")
    if resume and out.suffix.lower() != ".jsonl":
        raise InputError(f"{out}: --resume appends to JSONL output only; use a .jsonl --out")
    files = discover(inputs)
    refuse_overwrite(files, (out, sidecar_path(out, "articles")))
    clf = load_classifier(model_dir, backend, device)
    summary = ArticleSummary()
    done = _resume_from(out, summary) if resume else set()
    skipped: list[Skipped] = []
    records = (r for r in input_records(files, skipped) if str(r["id"]) not in done)
    count = 0
    columns = (TextColumn("{task.fields[rate]} sentences/s"),)
    with progress_bar(*columns, disable=not show_progress) as bar:
        job = bar.add_task("predict", total=None, rate="-")
        predicted = predict_records(clf, records, batch_size=batch_size, window=window, mentions=clf.rules or RulePreannotator())
        for record in _write(out, predicted, append=bool(done)):
            summary.add(record)
            count += 1
            if count % 256 == 0:
                elapsed = bar.tasks[0].elapsed or 1e-9
                bar.update(job, completed=count, rate=f"{count / elapsed:,.0f}")
        bar.update(job, completed=count)
    articles_path = sidecar_path(out, "articles")
    with RecordWriter(articles_path) as writer:
        for article in summary.records():
            writer.write(article)
    return {"predicted": count, "skipped_existing": len(done), "skipped_inputs": skipped,
            "articles": articles_path, "out": out, "model_version": clf.model_version}


def _write(out: Path, records: Iterable[dict[str, Any]], *, append: bool) -> Iterator[dict[str, Any]]:
    """Write records as they stream by (JSONL, CSV) or at the end (Parquet), yielding each once written;
    ``append`` adds to an existing JSONL file (``--resume``)."""
    suffix = out.suffix.lower()
    if suffix == ".parquet" or (suffix == ".jsonl" and not append):
        with RecordWriter(out, keep_partial=True) as writer:  # a stopped JSONL run leaves .tmp for --resume
            for record in records:
                writer.write(record)
                yield record
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".jsonl":
        with out.open("ab") as fh:  # the bytes RecordWriter writes for the same record
            for record in records:
                fh.write(orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE))
                yield record
        return
    writer = None
    with out.open("w", encoding="utf-8", newline="") as fh:
        for record in records:
            row = _csv_row(record)
            if writer is None:
                writer = csv.DictWriter(fh, fieldnames=list(row))
                writer.writeheader()
            writer.writerow(row)
            yield record
