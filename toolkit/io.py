"""Checked reading and writing of record files (JSONL or Parquet, chosen by extension).

Every stage reads and writes plain files through these functions, so any stage can be re-run alone and
its output opened with ordinary tools.
"""

from __future__ import annotations

import codecs
import gzip
import itertools
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

from toolkit.errors import InputError, RecordError

JSONL_SUFFIXES = {".jsonl", ".ndjson"}
PARQUET_SUFFIXES = {".parquet", ".pq"}
GZIP_SUFFIX = ".gz"
UNREADABLE = (OSError, EOFError, zlib.error)  # a failed read, or a .gz cut short or corrupt (BadGzipFile: OSError)


def _format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in JSONL_SUFFIXES:
        return "jsonl"
    if suffix in PARQUET_SUFFIXES:
        return "parquet"
    raise InputError(f"{path}: unsupported record file extension {suffix!r}; use .jsonl or .parquet")


NOT_UTF8 = "not valid UTF-8"  # how a line that is not UTF-8 is reported: readers may try other encodings


def iter_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """Yield ``(line_number, record)`` for each non-blank line; a bad line yields the problem as a string.

    Bad lines (invalid JSON or invalid UTF-8) are yielded rather than raised so callers decide whether to
    stop or skip and report. Lines go to orjson as bytes: decoding them to ``str`` first doubled the cost.
    A ``.gz`` file is read decompressed; where it is cut short or corrupt, that line yields the problem.
    """
    lineno = 0
    try:
        fh = open_binary(path)
    except OSError as exc:  # gone since it was listed, or not readable: line 0 stands for the whole file
        yield 0, f"cannot read file ({exc.strerror or exc})"
        return
    with fh:
        try:
            for lineno, line in enumerate(fh, start=1):
                if lineno == 1:
                    line = line.removeprefix(codecs.BOM_UTF8)
                if not line or line.isspace():  # blank: what `not line.strip()` tests, without a copy
                    continue
                yield lineno, parse_jsonl_line(line)
        except UNREADABLE as exc:
            yield lineno + 1, f"cannot read on from this line: {exc}"


def open_binary(path: Path) -> IO[bytes]:
    """The file for reading bytes, decompressed on the fly when its name ends in ``.gz``."""
    return gzip.open(path, "rb") if path.name.lower().endswith(GZIP_SUFFIX) else path.open("rb")


def parse_jsonl_line(line: bytes | str) -> dict[str, Any] | str:
    """One JSONL line as an object, or the problem with it as a string."""
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        return _line_problem(line, exc)
    return obj if isinstance(obj, dict) else f"expected a JSON object, got {type(obj).__name__}"


def _line_problem(line: bytes | str, exc: orjson.JSONDecodeError) -> str:
    if isinstance(line, bytes):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError as bad:
            return f"{NOT_UTF8} ({bad.reason} at byte {bad.start})"
    return f"invalid JSON ({exc.msg} at column {exc.colno})"


@dataclass(frozen=True)
class Skipped:
    """An input (a file, or ``file:line`` of one record) that was not read, with the reason shown in the run
    summary."""

    source: str
    reason: str


def text_records(path: str | Path, skipped: list[Skipped], *, required: Sequence[str] = ()) -> Iterator[dict[str, Any]]:
    """Stream the records of a JSONL or Parquet file that have a string ``text`` (and a non-null value for each
    ``required`` field); a malformed line, or a record without them, is appended to ``skipped`` (``file:line``
    and why) instead, so one bad record neither stops the run nor is lost silently. A missing file raises
    ``InputError`` at the call, as ``read_records`` does."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    rows = enumerate(_stream_records(path, "parquet"), 1) if _format(path) == "parquet" else iter_jsonl(path)
    return _checked(path, rows, skipped, required)


def _checked(path: Path, rows: Iterable[tuple[int, dict[str, Any] | str]], skipped: list[Skipped],
             required: Sequence[str]) -> Iterator[dict[str, Any]]:
    for number, record in rows:
        if isinstance(record, str):
            skipped.append(Skipped(f"{path}:{number}", record))
        elif not isinstance(text := record.get("text"), str):
            why = "no 'text'" if "text" not in record else f"'text' is {_kind(text)}, not a string"
            skipped.append(Skipped(f"{path}:{number}", why))
        elif missing := [key for key in required if record.get(key) is None]:
            skipped.append(Skipped(f"{path}:{number}", f"no {missing[0]!r}"))
        else:
            yield record


def _kind(value: Any) -> str:
    return "null" if value is None else f"a {type(value).__name__}"


def read_records(path: str | Path) -> Iterator[dict[str, Any]]:
    """Stream records from a JSONL or Parquet file; the first malformed line raises ``RecordError``.

    A missing file or unknown extension raises ``InputError`` at the call, before a caller shows progress
    or opens its output; the records themselves are read as they are iterated.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    return _stream_records(path, _format(path))


def _stream_records(path: Path, kind: str) -> Iterator[dict[str, Any]]:
    if kind == "parquet":
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(path).iter_batches():
            yield from batch.to_pylist()
        return
    for lineno, obj in iter_jsonl(path):
        if isinstance(obj, str):
            raise RecordError(f"{path}:{lineno}: {obj}")
        yield obj


_BUFFER_BYTES = 1 << 20  # fewer, larger writes: ingest emits a few KB per article
ROW_GROUP = 4096  # Parquet rows per row group, and the most rows a Parquet writer holds in memory


class RecordWriter:
    """Write records one at a time to JSONL or Parquet, in bounded memory.

    Output goes to a temporary name (``<path>.tmp``) and is renamed on a clean exit, so an interrupted run
    never leaves a half-written file that a later stage would mistake for a complete one. With
    ``keep_partial`` (JSONL only) a run that fails leaves its ``.tmp`` behind for a resume to pick up.

    Parquet has one schema per file, and a later record may add a field the first ones lack (``duplicate_of``,
    a new prediction block), so rows are spooled to disk as JSONL while their schemas are merged a row group
    at a time; on close the spool is written as row groups of ``ROW_GROUP`` rows under the merged schema.
    Memory stays at one row group whatever the input size.
    """

    def __init__(self, path: str | Path, *, keep_partial: bool = False) -> None:
        self.path = Path(path)
        self.format = _format(self.path)
        self.count = 0
        self.keep_partial = keep_partial and self.format == "jsonl"
        self._tmp = self.path.with_name(self.path.name + ".tmp")
        self._spool = self.path.with_name(self.path.name + ".spool.jsonl")
        self._pending: list[dict[str, Any]] = []
        self._schema: Any = None
        self._fh: IO[bytes] | None = None

    def __enter__(self) -> RecordWriter:
        """Create the folder and open the temporary file now, so an unwritable ``path`` fails before any work."""
        if self.path.is_dir():
            raise InputError(f"{self.path}: is a folder; name a file to write")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = (self._spool if self.format == "parquet" else self._tmp).open("wb", buffering=_BUFFER_BYTES)
        except OSError as exc:
            raise InputError(f"{self.path}: cannot write here ({exc.strerror})") from None
        return self

    def write(self, record: dict[str, Any]) -> None:
        self.write_many((record,))

    def write_many(self, records: Sequence[dict[str, Any]]) -> None:
        """Write a batch with one file write (what fast producers such as ingest use)."""
        if self.format == "parquet":
            self._pending.extend(records)
            if len(self._pending) >= ROW_GROUP:
                self._merge_schema()
        else:
            assert self._fh is not None
            self._fh.write(b"".join([orjson.dumps(r, option=orjson.OPT_APPEND_NEWLINE) for r in records]))
        self.count += len(records)

    def _merge_schema(self) -> None:
        """Merge the pending rows' schema into the file's and move the rows to the spool."""
        import pyarrow as pa

        if not self._pending:
            return
        schema = pa.Table.from_struct_array(pa.array(self._pending)).schema  # every row's keys, not the first row's
        self._schema = schema if self._schema is None else pa.unify_schemas([self._schema, schema],
                                                                             promote_options="permissive")
        assert self._fh is not None
        self._fh.write(b"".join([orjson.dumps(r, option=orjson.OPT_APPEND_NEWLINE) for r in self._pending]))
        self._pending = []

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        try:
            if exc_type is None and self.format == "parquet":
                self._merge_schema()
            if self._fh is not None:
                self._fh.close()
            if exc_type is not None:
                if not self.keep_partial:
                    self._tmp.unlink(missing_ok=True)
                return
            if self.format == "parquet":
                self._write_parquet()
            self._tmp.replace(self.path)
        finally:
            self._spool.unlink(missing_ok=True)

    def _write_parquet(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        schema = self._schema if self._schema is not None else pa.schema([])
        with pq.ParquetWriter(self._tmp, schema) as writer, self._spool.open("rb") as fh:
            for lines in iter(lambda: list(itertools.islice(fh, ROW_GROUP)), []):
                writer.write_table(pa.Table.from_pylist([orjson.loads(line) for line in lines], schema=schema))


def write_records(path: str | Path, records: Iterable[dict[str, Any]]) -> int:
    """Write all ``records`` to ``path`` (format by extension); return how many were written."""
    with RecordWriter(path) as writer:
        for record in records:
            writer.write(record)
    return writer.count


def refuse_overwrite(inputs: Iterable[Path], outputs: Iterable[str | Path]) -> None:
    """Raise ``InputError`` when an output is one of the inputs, before any work.

    Writers rename their output into place on close, which would replace the input (and appending to a
    file being read never ends). Only same-named inputs are resolved: a folder may hold thousands.
    """
    targets = {Path(output).resolve() for output in outputs}
    names = {target.name for target in targets}
    clash = next((path for path in inputs if path.name in names and path.resolve() in targets), None)
    if clash is not None:
        raise InputError(f"{clash}: output would overwrite this input; choose another --out")


def sidecar_path(path: str | Path, name: str) -> Path:
    """``out/sentences.jsonl`` + ``articles`` -> ``out/sentences.articles.jsonl`` (sidecars are always JSONL)."""
    path = Path(path)
    return path.with_name(f"{path.stem}.{name}.jsonl")
