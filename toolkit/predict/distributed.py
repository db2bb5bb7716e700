"""``toolkit predict --engine ray``: the local engine's predictions, computed by Ray Data on one machine or a cluster.

The pipeline is three Ray Data stages and a writer on the driver:

1. ``read_binary_files`` reads every input file (local paths or any filesystem pyarrow reads: ``s3://``,
   ``gs://``, ``hdfs://``), one row per file;
2. ingest runs as a ``map_batches`` task per file and turns it into rows of one article each (its sentence
   records as JSON bytes: nested prediction blocks would otherwise need one Arrow schema across blocks);
3. the classifier runs as a callable class on an actor pool: one model load per actor, and the sentences
   of each call sorted by length before batching, as the local engine does;
4. the driver collects the articles of each input file and, once all are back, writes that file's shard
   (``sentences/<shard>.parquet`` or ``.jsonl``) and its article summaries (``articles/<shard>.jsonl``).

A shard is one input file, named by its path, and is renamed into place only when whole, so a re-run on the
same ``--out`` skips every input whose shard exists. The model folder travels through Ray's object store
(one copy per node), so workers need no shared filesystem.

Ingest state is per input file here: the local engine marks a sentence repeated from an earlier *file*
(``duplicate_of``) and renames a clashing article id across files; under Ray both happen within a file only.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from rich.progress import TextColumn

from toolkit.errors import InputError
from toolkit.ingest.sources import SUPPORTED, discover, split_name
from toolkit.io import RecordWriter, Skipped
from toolkit.predict.summary import ArticleSummary
from toolkit.progress import progress_bar

SHARD_FORMATS = ("parquet", "jsonl")
MANIFEST = "manifest.json"
LIGHT_CPUS = 0.05  # the CPU share a read or ingest task asks for
ARTICLES_PER_CALL = 16  # articles per classifier call; their sentences are token-sorted into batches
BLOCK_BYTES = 256 << 10  # Ray Data's block size here (see ``_run``)


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise InputError("--engine ray needs Ray: pip install -e '.[ray]' (or pip install 'ray[data]')") from None
    return ray


def discover_inputs(inputs: list[str]) -> list[str]:
    """Input files as Ray Data reads them: local paths (folders expanded as ``toolkit predict`` does) and
    URIs of any filesystem pyarrow knows, whose folders are listed recursively."""
    found: list[str] = []
    for raw in map(str, inputs):
        if "://" not in raw:
            found.extend(map(os.fspath, discover([raw])))
            continue
        import pyarrow.fs as pafs

        fs, root = pafs.FileSystem.from_uri(raw)
        info = fs.get_file_info(root)
        if info.type == pafs.FileType.NotFound:
            raise InputError(f"{raw}: no such file or folder")
        scheme = raw.split("://", 1)[0]
        if info.type == pafs.FileType.File:
            found.append(raw)
            continue
        listed = fs.get_file_info(pafs.FileSelector(root, recursive=True))
        found.extend(sorted(f"{scheme}://{item.path}" for item in listed if item.type == pafs.FileType.File
                            and not os.path.basename(item.path).startswith(".")
                            and split_name(item.path)[1] in SUPPORTED | {".parquet"}))
    return found


def shard_name(source: str) -> str:
    """``news/2026-12-01.jsonl`` -> ``2026-12-01-<10 hex>``: readable, and unique per input path."""
    return f"{split_name(source)[0][:60]}-{hashlib.sha1(source.encode('utf-8')).hexdigest()[:10]}"


# --- stage 2: ingest, one input file per call ----------------------------------------------------------


def file_records(source: str, data: bytes) -> tuple[list[dict[str, Any]], list[Skipped]]:
    """Sentence records of one input file given as bytes, read exactly as the local engine reads it (from a
    local copy under the same name), with every source and skip reason naming ``source``."""
    from toolkit.predict.inputs import input_records

    skipped: list[Skipped] = []
    with tempfile.TemporaryDirectory() as tmp:
        local = Path(tmp) / os.path.basename(source.rstrip("/"))
        local.write_bytes(data)
        named = os.fspath(local)
        records = list(input_records([local], skipped, rename=lambda shown: shown.replace(named, source)))
    return records, [Skipped(item.source.replace(named, source), item.reason) for item in skipped]


def _by_article(records: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Consecutive records of one article together (an article's sentences must meet in one classifier call
    for a model with ``topic_context``)."""
    groups: list[list[dict[str, Any]]] = []
    last: object = object()
    for record in records:
        key = record.get("article_id")
        if not groups or key != last:
            groups.append([])
            last = key
        groups[-1].append(record)
    return groups


def ingest_batch(batch: dict[str, np.ndarray], names: dict[str, str]) -> dict[str, np.ndarray]:
    """One row per article of each file in ``batch``; a file without articles gives one row with index -1
    that carries its skip reasons, so the driver learns every input's fate."""
    rows: dict[str, list[Any]] = {key: [] for key in ("shard", "source", "index", "n_articles", "records", "skipped")}
    for path, data in zip(batch["path"], batch["bytes"]):
        source = names.get(str(path), str(path))
        records, skipped = file_records(source, bytes(data))
        groups = _by_article(records)
        reasons = orjson.dumps([[item.source, item.reason] for item in skipped])
        for index, group in enumerate(groups or [[]]):
            rows["shard"].append(shard_name(source))
            rows["source"].append(source)
            rows["index"].append(index if group else -1)
            rows["n_articles"].append(len(groups))
            rows["records"].append(orjson.dumps(group))
            rows["skipped"].append(reasons if index == 0 else b"[]")
    return {key: np.array(values, dtype=object if key in ("records", "skipped") else None)
            for key, values in rows.items()}


# --- stage 3: the classifier on an actor pool ----------------------------------------------------------


class Predictor:
    """A Ray Data callable class: loads the model once per actor (from the object store's copy of the model
    folder) and predicts each batch of article rows."""

    def __init__(self, model_files: list[Any], backend: str, threads: int, batch_size: int) -> None:
        import ray
        import torch

        from toolkit.annotate import RulePreannotator
        from toolkit.predict.onnx import load_classifier

        torch.set_num_threads(threads)
        self._folder = tempfile.TemporaryDirectory(prefix="toolkit-model-")
        for rel, data in ray.get(model_files[0]).items():  # a reference in a list: fetched here, once
            target = Path(self._folder.name) / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        self.clf = load_classifier(self._folder.name, backend, "cpu", threads=threads)
        self.mentions = self.clf.rules or RulePreannotator()
        self.batch_size = batch_size

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from toolkit.predict.batch import predict_records

        groups = [orjson.loads(data) for data in batch["records"]]
        flat = [record for group in groups for record in group]
        predicted = predict_records(self.clf, flat, batch_size=self.batch_size, window=max(len(flat), 1),
                                    mentions=self.mentions)
        out = [orjson.dumps([next(predicted) for _ in group]) for group in groups]
        return {**batch, "records": np.array(out, dtype=object)}


def model_files(folder: Path) -> dict[str, bytes]:
    """Every file of a model folder (PyTorch or ONNX export) by relative path: what is shipped to workers."""
    if not folder.is_dir():
        raise InputError(f"{folder}: no such model folder")
    return {item.relative_to(folder).as_posix(): item.read_bytes()
            for item in sorted(folder.rglob("*")) if item.is_file()}


# --- stage 4: shards on the driver ---------------------------------------------------------------------


@dataclass
class _Pending:
    source: str
    n_articles: int
    articles: dict[int, bytes] = field(default_factory=dict)
    skipped: list[Skipped] = field(default_factory=list)


@dataclass
class RayResult:
    """What a Ray run did: counts, throughput and every input that gave nothing or lost lines."""

    out: Path
    sentences: int = 0
    articles: int = 0
    shards_written: int = 0
    shards_existing: int = 0
    seconds: float = 0.0
    skipped_inputs: list[Skipped] = field(default_factory=list)
    failed_inputs: list[str] = field(default_factory=list)

    @property
    def throughput(self) -> float:
        return self.sentences / self.seconds if self.seconds else 0.0


def _write_shard(out: Path, shard: str, fmt: str, pending: _Pending) -> tuple[int, int]:
    """Write one input's sentences and article summaries; the sentence shard is renamed into place last, so
    its existence means the whole input is done."""
    summary = ArticleSummary()
    records = [record for index in sorted(pending.articles) for record in orjson.loads(pending.articles[index])]
    for record in records:
        summary.add(record)
    with RecordWriter(out / "articles" / f"{shard}.jsonl") as writer:
        writer.write_many(summary.records())
    with RecordWriter(out / "sentences" / f"{shard}.{fmt}") as writer:
        writer.write_many(records)
    return len(records), len(pending.articles)


def run_predict_ray(
    model_dir: str | Path, inputs: list[str | Path], out: str | Path, *, address: str | None = None,
    workers: int | None = None, threads: int | None = None, batch_size: int = 64,
    articles_per_call: int = ARTICLES_PER_CALL, backend: str = "torch", fmt: str = "parquet",
    show_progress: bool = True,
) -> RayResult:
    """Predict ``inputs`` with Ray Data into the folder ``out`` (see the module docstring).

    Without ``address`` a local Ray runtime starts with this machine's CPUs; with one, the run joins that
    cluster. ``workers`` actors (default: one per ``threads`` CPUs of the cluster) each use ``threads``
    intra-op threads (default: 1).
    """
    ray = _ray()
    out = Path(out)
    if fmt not in SHARD_FORMATS:
        raise InputError(f"shard format {fmt!r}: use one of {', '.join(SHARD_FORMATS)}")
    if out.suffix.lower() in {".jsonl", ".parquet", ".csv"}:
        raise InputError(f"{out}: with --engine ray, --out is a folder of shards; name a folder")
    files = discover_inputs([os.fspath(i) for i in inputs])
    shipped = model_files(Path(model_dir))
    result = RayResult(out=out)
    todo = []
    for source in files:
        if (out / "sentences" / f"{shard_name(source)}.{fmt}").exists():
            result.shards_existing += 1
        else:
            todo.append(source)
    start = time.perf_counter()
    started_here = not ray.is_initialized()
    if started_here:  # a cluster's resources and dashboard are its own: set them only for a local runtime
        local = {} if address else {"num_cpus": os.cpu_count(), "include_dashboard": False}
        ray.init(address=address, log_to_driver=False, logging_level=logging.ERROR, **local)
    try:
        if todo:
            _run(ray, todo, shipped, out, result, workers=workers, threads=threads, batch_size=batch_size,
                 articles_per_call=articles_per_call, backend=backend, fmt=fmt, show_progress=show_progress)
    finally:
        if started_here:
            ray.shutdown()
    result.seconds = time.perf_counter() - start
    _write_summaries(out, files, fmt, result)
    return result


def _run(ray: Any, todo: list[str], shipped: dict[str, bytes], out: Path, result: RayResult, *,
         workers: int | None, threads: int | None, batch_size: int, articles_per_call: int, backend: str,
         fmt: str, show_progress: bool) -> None:
    from ray.data import DataContext

    logging.getLogger("ray.data").setLevel(logging.WARNING)  # Ray Data logs each execution at INFO
    context = DataContext.get_current()
    context.enable_progress_bars = False  # the bar below counts inputs and sentences
    context.execution_options.verbose_progress = False
    # An actor takes a block at a time, and a file's articles come out of ingest as one block unless blocks
    # are small: at this size one large input is cut into blocks of a few hundred sentences, which keeps
    # every actor busy. (``repartition`` would do it too, but as a task that asks for a whole CPU, which
    # never frees up while the actors hold them all.)
    context.target_max_block_size = BLOCK_BYTES
    context.issue_detectors_config.detectors = []  # its memory hints are about ingest's model-free tasks
    cpus = int(ray.cluster_resources().get("CPU", 1))
    threads = threads or 1
    workers = workers or max(1, cpus // threads)
    names = {_ray_path(source): source for source in todo}
    # Reading and ingest ask for a sliver of a CPU: they are light next to the model, and must not wait for
    # the CPUs the actors hold (with a whole CPU each they would never be scheduled on a full node).
    # One task at a time each: every concurrent task is another worker process to start, which on a small
    # node costs more than the reading and ingest themselves.
    ds = ray.data.read_binary_files([_ray_path(s) for s in todo], include_paths=True, num_cpus=LIGHT_CPUS,
                                    concurrency=1, override_num_blocks=len(todo))
    ds = ds.map_batches(ingest_batch, batch_size=1, num_cpus=LIGHT_CPUS, compute=ray.data.TaskPoolStrategy(size=1),
                        fn_kwargs={"names": names})
    ds = ds.map_batches(Predictor, batch_size=articles_per_call, compute=ray.data.ActorPoolStrategy(size=workers),
                        num_cpus=min(threads, cpus / workers) * (1 - 2 * LIGHT_CPUS),
                        fn_constructor_args=([ray.put(shipped)], "onnx" if backend == "onnx" else "torch",
                                             threads, batch_size))
    pending: dict[str, _Pending] = {}
    with progress_bar(TextColumn("{task.fields[sentences]:,} sentences, {task.fields[rate]} sentences/s"),
                      disable=not show_progress) as bar:
        job = bar.add_task("predict (ray)", total=len(todo), sentences=0, rate="-")
        began = time.perf_counter()
        # A small job (fewer blocks than actors) makes Ray Data warn that some actors will idle; harmless.
        warnings.filterwarnings("ignore", message="The minimum number of concurrent actors", category=UserWarning)
        for row in ds.iter_rows():
            state = pending.setdefault(row["shard"], _Pending(row["source"], int(row["n_articles"])))
            state.skipped.extend(Skipped(s, r) for s, r in orjson.loads(row["skipped"]))
            if row["index"] >= 0:
                state.articles[int(row["index"])] = row["records"]
            if len(state.articles) < state.n_articles:
                continue
            del pending[row["shard"]]
            result.skipped_inputs.extend(state.skipped)
            if state.n_articles == 0:
                result.failed_inputs.append(row["source"])
            else:
                sentences, articles = _write_shard(out, row["shard"], fmt, state)
                result.sentences += sentences
                result.articles += articles
                result.shards_written += 1
            rate = result.sentences / max(time.perf_counter() - began, 1e-9)
            bar.update(job, advance=1, sentences=result.sentences, rate=f"{rate:,.0f}")
    result.failed_inputs.extend(state.source for state in pending.values())  # rows the engine never returned


def _ray_path(source: str) -> str:
    return source if "://" in source else os.path.abspath(source)


def _write_summaries(out: Path, files: list[str], fmt: str, result: RayResult) -> None:
    """``articles.jsonl`` over every shard (this run's and earlier ones'), and ``manifest.json``: which input
    went to which shard, and what failed."""
    shards = {source: shard_name(source) for source in files}
    done = {source: shard for source, shard in shards.items() if (out / "sentences" / f"{shard}.{fmt}").exists()}
    out.mkdir(parents=True, exist_ok=True)
    with RecordWriter(out / "articles.jsonl") as writer:
        for shard in done.values():
            path = out / "articles" / f"{shard}.jsonl"
            if path.exists():
                writer.write_many([orjson.loads(line) for line in path.read_bytes().splitlines() if line])
    manifest = {"shards": [{"input": source, "shard": f"sentences/{shard}.{fmt}"} for source, shard in done.items()],
                "failed_inputs": result.failed_inputs,
                "skipped": [{"source": item.source, "reason": item.reason} for item in result.skipped_inputs]}
    (out / MANIFEST).write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2))


def iter_shards(out: str | Path) -> Iterator[dict[str, Any]]:
    """Every predicted sentence record of a Ray output folder, shard by shard (in the manifest's input order)."""
    from toolkit.io import read_records

    out = Path(out)
    manifest = orjson.loads((out / MANIFEST).read_bytes())
    for entry in manifest["shards"]:
        yield from read_records(out / entry["shard"])
