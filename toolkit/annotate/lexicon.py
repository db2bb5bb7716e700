"""Load the pre-annotation lexicons (``labels/lexicon/*.tsv``): line-based data, checked line by line."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar

from toolkit.errors import SchemaError
from toolkit.ingest.normalize import normalize
from toolkit.resources import labels_path

T = TypeVar("T")
Role = Literal["concessive", "contrast", "conditional", "consequence", "alternative"]
ROLES: tuple[Role, ...] = ("concessive", "contrast", "conditional", "consequence", "alternative")
Reference = Literal["back", "opening", "opening-plural", "compound", "contrast"]
REFERENCES: tuple[Reference, ...] = ("back", "opening", "opening-plural", "compound", "contrast")
LEXICON_FILES = ("sentiment.tsv", "stance.tsv", "topics.tsv", "negation.tsv", "structure.tsv", "anaphora.tsv")


@dataclass(frozen=True)
class Lexicon:
    """All rule knowledge as data. Terms are normalised (Simplified, half-width) on load."""

    sentiment: dict[str, float]
    stance: dict[str, tuple[str, float]]
    topics: dict[str, tuple[tuple[str, float], ...]]
    negation: frozenset[str]
    structure: dict[str, Role]
    anaphora: dict[str, Reference]
    version: str

    def references(self, kind: Reference) -> tuple[str, ...]:
        """The ``anaphora.tsv`` terms of one kind, longest first (so the longest opening wins)."""
        return tuple(sorted((t for t, k in self.anaphora.items() if k == kind), key=len, reverse=True))


def _lines(path: Path) -> Iterator[tuple[int, list[str]]]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SchemaError(f"{path}: cannot read lexicon ({exc})") from None
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if line:
            yield lineno, line.split()


def _parse(
    path: Path,
    arity: tuple[int, ...],
    convert: Callable[[list[str]], T],
    *,
    key: Callable[[str, T], object] = lambda term, value: term,
) -> list[tuple[str, T]]:
    """Parse ``term field...`` lines; any problem raises ``SchemaError`` naming file and line."""
    entries: list[tuple[str, T]] = []
    seen: set[object] = set()
    for lineno, fields in _lines(path):
        where = f"{path}:{lineno}"
        if len(fields) not in arity:
            expected = " or ".join(str(n) for n in arity)
            raise SchemaError(f"{where}: expected {expected} whitespace-separated fields, got {len(fields)}")
        try:
            value = convert(fields[1:])
        except ValueError as exc:
            raise SchemaError(f"{where}: {exc}") from None
        term = normalize(fields[0])
        if key(term, value) in seen:
            raise SchemaError(f"{where}: duplicate entry {fields[0]!r}")
        seen.add(key(term, value))
        entries.append((term, value))
    return entries


def _weight(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"weight must be a number, got {text!r}") from None


def _stance(fields: list[str]) -> tuple[str, float]:
    if fields[0] not in ("bullish", "risk"):
        raise ValueError(f"stance must be 'bullish' or 'risk', got {fields[0]!r}")
    return fields[0], _weight(fields[1])


def _topic(valid: tuple[str, ...]) -> Callable[[list[str]], tuple[str, float]]:
    def convert(fields: list[str]) -> tuple[str, float]:
        if fields[0] not in valid:
            raise ValueError(f"unknown topic {fields[0]!r}; topics are {', '.join(valid)}")
        return fields[0], _weight(fields[1]) if len(fields) > 1 else 1.0

    return convert


def _role(fields: list[str]) -> Role:
    if fields[0] not in ROLES:
        raise ValueError(f"unknown role {fields[0]!r}; roles are {', '.join(ROLES)}")
    return fields[0]  # type: ignore[return-value]


def _reference(fields: list[str]) -> Reference:
    kind = fields[0] if fields else "back"
    if kind not in REFERENCES:
        raise ValueError(f"unknown reference kind {kind!r}; kinds are {', '.join(REFERENCES)}")
    return kind  # type: ignore[return-value]


def lexicon_version(folder: Path) -> str:
    """Hash of every lexicon file, so a changed lexicon gives a new ``model_version``."""
    digest = hashlib.sha256()
    for name in LEXICON_FILES:
        digest.update(name.encode())
        digest.update((folder / name).read_bytes())
    return digest.hexdigest()[:12]


@functools.lru_cache(maxsize=8)
def sentiment_terms(path: Path) -> dict[str, float]:
    """A sentiment file's terms and weights (``term weight`` lines)."""
    return dict(_parse(path, (2,), lambda f: _weight(f[0])))


def load_lexicon(folder: str | Path | None = None, *, topics: tuple[str, ...]) -> Lexicon:
    """Load the lexicon files from ``folder`` (default ``labels/lexicon``); ``topics`` are the valid names."""
    root = Path(folder) if folder else labels_path("lexicon")
    by_term: dict[str, list[tuple[str, float]]] = {}
    for term, value in _parse(root / "topics.tsv", (2, 3), _topic(topics), key=lambda t, v: (t, v[0])):
        by_term.setdefault(term, []).append(value)
    return Lexicon(
        sentiment=sentiment_terms(root / "sentiment.tsv"),
        stance=dict(_parse(root / "stance.tsv", (3,), _stance)),
        topics={term: tuple(values) for term, values in by_term.items()},
        negation=frozenset(term for term, _ in _parse(root / "negation.tsv", (1,), lambda f: None)),
        structure=dict(_parse(root / "structure.tsv", (2,), _role)),
        anaphora=dict(_parse(root / "anaphora.tsv", (1, 2), _reference)),
        version=lexicon_version(root),
    )
