"""Find and read raw articles: text/markdown/HTML files, folders of them, and article JSONL."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from toolkit.errors import DecodeError, InputError
from toolkit.ingest.decode import decode_bytes
from toolkit.io import iter_jsonl

TEXT_SUFFIXES = {".txt", ".md", ".markdown"}
HTML_SUFFIXES = {".html", ".htm"}
JSONL_SUFFIXES = {".jsonl", ".ndjson"}
SUPPORTED = TEXT_SUFFIXES | HTML_SUFFIXES | JSONL_SUFFIXES
_FIELDS = ("id", "title", "url", "published_at")  # optional in article JSONL
_STRING_OR_NONE = frozenset({str, type(None)})
_READ_CHUNK = 1 << 16


@dataclass(slots=True)
class RawArticle:
    """An article before cleaning. ``is_html`` selects trafilatura extraction.

    Not frozen: one is built per article, and a frozen dataclass's ``__init__`` sets each field through
    ``object.__setattr__``, three times the cost of a plain one.
    """

    content: str
    is_html: bool
    source: str
    id: str | None = None
    title: str | None = None
    url: str | None = None
    published_at: str | None = None
    encoding: str | None = None
    warning: str | None = None


@dataclass(frozen=True)
class Skipped:
    """An input that was not read, with the reason shown in the run summary."""

    source: str
    reason: str


def discover(inputs: Iterable[str | Path]) -> list[Path]:
    """Expand folders (recursively, sorted) into supported files; a missing input is an error up front."""
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

    ``os.scandir`` knows each entry's type from the directory listing, where ``rglob`` + ``is_file``
    paid a ``stat`` per file: a visible cost on folders of thousands of short articles.
    """
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                yield from _supported_files(entry.path)
            elif entry.is_file() and os.path.splitext(entry.name)[1].lower() in SUPPORTED:
                yield entry.path


def _read_bytes(path: str) -> bytes:
    """The file's bytes with plain system calls: half the cost of ``open().read()`` on a short article."""
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
    """Numbers as text; a field that is neither string nor number is dropped, and the warning names it."""
    values, ignored = [], []
    for key, value in zip(_FIELDS, fields):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        elif value is not None and not isinstance(value, str):
            ignored.append(f"{key!r} is {_JSON_TYPES.get(type(value), type(value).__name__)}")
            value = None
        values.append(value)
    return values, f"ignored {'; '.join(ignored)} (expected a string)" if ignored else None


def _read_jsonl(path: Path) -> Iterator[RawArticle | Skipped]:
    """One article per line; a line without usable text is skipped, a malformed optional field dropped."""
    for lineno, obj in iter_jsonl(path):
        where = f"{path}:{lineno}"
        if isinstance(obj, str):
            yield Skipped(where, obj)
            continue
        key = "text" if obj.get("text") is not None else "html"
        body = obj.get(key)
        if body is not None and not isinstance(body, str):
            yield Skipped(where, f"{key!r} must be a string, got {_JSON_TYPES.get(type(body), 'a value')}")
            continue
        if not body or not body.strip():
            yield Skipped(where, "article has no non-empty 'text' or 'html' field")
            continue
        fields, warning = list(map(obj.get, _FIELDS)), None
        if not _STRING_OR_NONE.issuperset(map(type, fields)):  # C-level test of the common case, all strings
            fields, warning = _as_text(fields)
        # RawArticle's fields after ``source`` are those of _FIELDS, in that order
        yield RawArticle(body, key == "html", where, *fields, encoding="utf_8", warning=warning)


def read_sources(files: Iterable[Path]) -> Iterator[RawArticle | Skipped]:
    """Yield one ``RawArticle`` per article, or ``Skipped`` with the reason; never raises for bad content."""
    for path in files:
        name = os.fspath(path)  # os.path on the string: pathlib's suffix and stem cost more than the read
        stem, suffix = os.path.splitext(os.path.basename(name))
        suffix = suffix.lower()
        if suffix not in SUPPORTED:
            yield Skipped(name, f"unsupported file type {suffix or '(none)'!r}")
            continue
        if suffix in JSONL_SUFFIXES:
            yield from _read_jsonl(path)
            continue
        try:
            decoded = decode_bytes(_read_bytes(name))
        except DecodeError as exc:
            yield Skipped(name, exc.message)
            continue
        except OSError as exc:
            yield Skipped(name, f"cannot read file ({exc.strerror})")
            continue
        yield RawArticle(
            content=decoded.text,
            is_html=suffix in HTML_SUFFIXES,
            source=name,
            id=stem,
            encoding=decoded.encoding,
            warning=decoded.warning,
        )
