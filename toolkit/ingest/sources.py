"""Find and read raw articles: text, Markdown and HTML files, folders of them, and article JSONL."""

from __future__ import annotations

import os
from datetime import datetime, timezone
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from toolkit.errors import DecodeError, InputError
from toolkit.ingest.decode import Decoded, decode_bytes
from toolkit.io import GZIP_SUFFIX, NOT_UTF8, UNREADABLE, Skipped, iter_jsonl, open_binary, parse_jsonl_line

Markup = Literal["text", "html", "markdown"]
# File suffix -> the markup of its content (JSONL files hold articles, each with its own).
# .shtml is how many Chinese news sites name their pages (sina, people.com.cn), so saved pages keep it.
MARKUP_BY_SUFFIX: dict[str, Markup] = {
    ".txt": "text", ".md": "markdown", ".markdown": "markdown",
    ".html": "html", ".htm": "html", ".shtml": "html", ".xhtml": "html",
}
JSONL_SUFFIXES = {".jsonl", ".ndjson"}
SUPPORTED = MARKUP_BY_SUFFIX.keys() | JSONL_SUFFIXES
_FIELDS = ("id", "title", "url", "published_at")  # optional in article JSONL
_STRING_OR_NONE = frozenset({str, type(None)})
_READ_CHUNK = 1 << 16
# The shapes of this toolkit's own JSONL outputs (sentence records, cleaned articles, the ingest log).
_SENTENCE_KEYS = frozenset({"id", "article_id", "text", "text_norm", "start", "end"})
_ARTICLE_KEYS = frozenset({"id", "text", "script", "n_units"})
_LOG_KEYS = {"level", "source", "message"}


@dataclass(slots=True)
class RawArticle:
    """An article before cleaning; ``markup`` says how its content is read (``clean_article``).

    Not frozen: one is built per article, and a frozen dataclass's ``__init__`` sets each field through
    ``object.__setattr__``, three times the cost of a plain one.
    """

    content: str
    source: str
    id: str | None = None
    title: str | None = None
    url: str | None = None
    published_at: str | None = None
    markup: Markup = "text"
    encoding: str | None = None
    warning: str | None = None


def discover(inputs: Iterable[str | Path]) -> list[Path]:
    """Expand folders (recursively, sorted, hidden entries left out) into supported files; a missing input
    is an error up front."""
    files: list[Path] = []
    for raw in inputs:
        path = Path(raw)
        if path.is_dir():
            found = sorted(_supported_files(str(path)), key=lambda name: name.split(os.sep))  # Path order
            files.extend(map(Path, found))
        elif path.is_file():
            files.append(path)
        else:
            raise InputError(f"{path}: no such file or directory")
    return files


def _supported_files(folder: str) -> Iterator[str]:
    """Supported files under ``folder``, not following linked folders (as ``Path.rglob``).

    Hidden entries (``.ipynb_checkpoints``, ``.git``, macOS ``._name.txt`` resource forks) are not
    searched: a folder of articles a notebook has opened holds a checkpoint copy of each, which would be
    ingested again as a second article of duplicates. A hidden file named as an input is still read.
    ``os.scandir`` knows each entry's type from the directory listing, where ``rglob`` + ``is_file``
    paid a ``stat`` per file: a visible cost on folders of thousands of short articles.
    """
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if entry.is_dir(follow_symlinks=False):
                yield from _supported_files(entry.path)
            elif entry.is_file() and split_name(entry.name)[1] in SUPPORTED:
                yield entry.path


def split_name(name: str) -> tuple[str, str, bool]:
    """``news/a.JSONL.gz`` -> ``("a", ".jsonl", True)``: stem, suffix of the content, gzip-compressed."""
    base = os.path.basename(name)
    compressed = base[-len(GZIP_SUFFIX):].lower() == GZIP_SUFFIX
    stem, suffix = os.path.splitext(base[: -len(GZIP_SUFFIX)] if compressed else base)
    return stem, suffix.lower(), compressed


def _read_bytes(path: str, compressed: bool = False) -> bytes:
    """The file's bytes (decompressed) with plain system calls: half the cost of ``open().read()`` on a short
    article."""
    if compressed:
        with open_binary(Path(path)) as fh:
            return fh.read()
    fd = os.open(path, os.O_RDONLY)
    try:
        chunks = []
        while chunk := os.read(fd, _READ_CHUNK):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


_JSON_TYPES = {dict: "an object", list: "an array", bool: "a boolean", int: "a number", float: "a number"}


def _as_text(fields: list[Any]) -> tuple[list[str | None], str | None]:
    """Numbers as text (a Unix time in ``published_at`` as an ISO date); a field that is neither string nor
    number is dropped, and the warning names it."""
    values, ignored = [], []
    for key, value in zip(_FIELDS, fields):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = (key == "published_at" and _unix_time(value)) or str(value)
        elif value is not None and not isinstance(value, str):
            ignored.append(f"{key!r} is {_JSON_TYPES.get(type(value), type(value).__name__)}")
            value = None
        values.append(value)
    return values, f"ignored {'; '.join(ignored)} (expected a string)" if ignored else None


def _unix_time(value: float) -> str | None:
    """An ISO 8601 UTC time for a number that is a Unix time in seconds or milliseconds (years 2001–2286),
    as APIs and scrapers give ``published_at``; None for any other number (20251112 stays as written)."""
    for scale in (1, 1000):
        if 1e9 <= value / scale < 1e10:
            return datetime.fromtimestamp(value / scale, tz=timezone.utc).isoformat(timespec="seconds")
    return None


def _jsonl_lines(path: Path, encoding: str | None) -> Iterator[tuple[int, dict[str, Any] | str, str]]:
    """``iter_jsonl`` plus each line's encoding: a file in GBK or Big5, not UTF-8, is decoded whole.

    JSON ought to be UTF-8, but exports from Chinese Windows tools often are GBK; read line by line as UTF-8,
    every line of one would be skipped. The UTF-8 lines before the first bad one are ASCII, the same in
    either encoding, so reading goes on from that line in the given (``encoding``) or detected encoding.
    """
    for lineno, obj in iter_jsonl(path):
        if isinstance(obj, str) and obj.startswith(NOT_UTF8) and (decoded := _decode_non_utf8(path, encoding)):
            for number, line in enumerate(decoded.text.split("\n")[lineno - 1 :], start=lineno):
                if line and not line.isspace():
                    yield number, parse_jsonl_line(line), decoded.encoding
            return
        yield lineno, obj, "utf_8"


def _decode_non_utf8(path: Path, encoding: str | None) -> Decoded | None:
    """The whole file decoded when it is in another encoding; None for UTF-8 with a few corrupt lines."""
    try:
        data = _read_bytes(os.fspath(path), split_name(path.name)[2])
    except UNREADABLE:
        return None  # a corrupt .gz: its lines report where reading stopped
    if any(not line.isascii() and _is_utf8(line) for line in data.split(b"\n")):
        return None  # some non-ASCII line is UTF-8: the file is, and its bad lines are reported one by one
    try:
        decoded = decode_bytes(data, encoding)
    except DecodeError:
        return None
    return None if decoded.encoding.startswith("utf_8") else decoded


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _toolkit_output(obj: dict[str, Any]) -> str | None:
    """What the file is when its first object has the shape of one of this toolkit's own outputs."""
    if obj.keys() >= _SENTENCE_KEYS:
        return "holds sentence records (an ingest or preannotate output), not articles"
    if obj.keys() >= _ARTICLE_KEYS:
        return "holds the cleaned articles of an earlier ingest run; ingest that run's inputs instead"
    if obj.keys() == _LOG_KEYS:
        return "is an ingest log, not articles"
    return None


def _no_body(obj: dict[str, Any]) -> str:
    """Why a line has no article text; naming the fields it has shows a scrape that calls it ``content``."""
    if "text" in obj or "html" in obj:
        return "article has no non-empty 'text' or 'html' field"
    fields = ", ".join(list(obj)[:8]) + (" …" if len(obj) > 8 else "")
    return f"article has no 'text' or 'html' field (its fields: {fields or 'none'})"


def _blank(value: Any) -> bool:
    """None, or a string of white space only."""
    return value is None or (isinstance(value, str) and (not value or value.isspace()))


def _read_jsonl(path: Path, encoding: str | None) -> Iterator[RawArticle | Skipped]:
    """One article per line; a line without usable text is skipped, a malformed optional field dropped.

    A file this toolkit wrote (sentence records, cleaned articles, an ingest log: an earlier run's output in
    a folder of inputs) is skipped whole: its lines would become one article per sentence, a second copy
    of each article, or one skipped line each.
    """
    first = True
    for lineno, obj, line_encoding in _jsonl_lines(path, encoding):
        where = f"{path}:{lineno}" if lineno else os.fspath(path)
        if isinstance(obj, str):
            yield Skipped(where, obj)
            continue
        if first:
            first = False
            if what := _toolkit_output(obj):
                yield Skipped(os.fspath(path), what)
                return
        key: Markup = "text"
        body = obj.get("text")
        if _blank(body) and obj.get("html") is not None:  # a scrape whose text extraction came back empty
            key, body = "html", obj["html"]
        if body is not None and not isinstance(body, str):
            yield Skipped(where, f"{key!r} must be a string, got {_JSON_TYPES.get(type(body), 'a value')}")
            continue
        if _blank(body):
            yield Skipped(where, _no_body(obj))
            continue
        fields, warning = list(map(obj.get, _FIELDS)), None
        if not _STRING_OR_NONE.issuperset(map(type, fields)):  # C-level test of the common case, all strings
            fields, warning = _as_text(fields)
        # RawArticle's fields after ``source`` are those of _FIELDS, in that order
        yield RawArticle(body, where, *fields, markup=key, encoding=line_encoding, warning=warning)


def read_sources(files: Iterable[Path], encoding: str | None = None) -> Iterator[RawArticle | Skipped]:
    """Yield one ``RawArticle`` per article, or ``Skipped`` with the reason; never raises for bad content.

    ``encoding`` reads the files that are not UTF-8 (default: an HTML page's declared charset, else detected).
    """
    for path in files:
        name = os.fspath(path)  # os.path on the string: pathlib's suffix and stem cost more than the read
        stem, suffix, compressed = split_name(name)
        if suffix not in SUPPORTED:
            shown = suffix + GZIP_SUFFIX if compressed else suffix
            yield Skipped(name, f"unsupported file type {shown or '(none)'!r}")
            continue
        if suffix in JSONL_SUFFIXES:
            yield from _read_jsonl(path, encoding)
            continue
        markup = MARKUP_BY_SUFFIX[suffix]
        try:
            decoded = decode_bytes(_read_bytes(name, compressed), encoding, html=markup == "html")
        except DecodeError as exc:
            yield Skipped(name, exc.message)
            continue
        except UNREADABLE as exc:
            yield Skipped(name, f"cannot read file ({getattr(exc, 'strerror', None) or exc})")
            continue
        yield RawArticle(
            content=decoded.text,
            markup=markup,
            source=name,
            id=stem,
            encoding=decoded.encoding,
            warning=decoded.warning,
        )
