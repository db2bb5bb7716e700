"""The one data model that flows through every stage: articles and sentence records.

Stages add fields (``predictions``, ``annotations``, ``labels``) to the same record; unknown fields are
kept, so a user's extra columns survive every stage.
"""

from __future__ import annotations

import hashlib
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Kind = Literal["sentence", "heading", "bullet", "table_row"]
Script = Literal["hans", "hant", "mixed"]

_ID_BYTES = 8


def _digest(*parts: str) -> str:
    return hashlib.blake2b("\x1f".join(parts).encode("utf-8"), digest_size=_ID_BYTES).hexdigest()


def article_id_for(content: str) -> str:
    """Content-hash article id, used when the input names none."""
    return "a" + _digest(content)


def sentence_id(article_id: str, text_norm: str, occurrence: int = 0) -> str:
    """Stable sentence id from article id and normalised text.

    Editing one sentence changes only its own id; ``occurrence`` separates repeats of the same text within
    an article (the first keeps the plain id, so adding a repeat never renames an existing sentence).
    """
    parts = (article_id, text_norm) if occurrence == 0 else (article_id, text_norm, str(occurrence))
    return "s" + _digest(*parts)


def sentence_ids(article_id: str, norms: list[str]) -> list[str]:
    """``sentence_id`` of every unit of one article in order, numbering repeated texts.

    The batch form of ``sentence_id`` (the same ids, checked by a test) for ingest's hot loop: the article
    prefix is hashed once and each unit continues from a copy of that state, half the cost of hashing
    ``prefix + text`` afresh.
    """
    keys = norms if len(set(norms)) == len(norms) else _numbered(norms)
    prefix = hashlib.blake2b((article_id + "\x1f").encode("utf-8"), digest_size=_ID_BYTES)
    ids = []
    for key in keys:
        digest = prefix.copy()
        digest.update(key.encode("utf-8"))
        ids.append("s" + digest.hexdigest())
    return ids


def _numbered(norms: list[str]) -> list[str]:
    """Each text with its occurrence number appended from the second time it appears (as ``sentence_id``)."""
    seen: dict[str, int] = {}
    keys = []
    for norm in norms:
        occurrence = seen.get(norm, 0)
        seen[norm] = occurrence + 1
        keys.append(norm if occurrence == 0 else f"{norm}\x1f{occurrence}")
    return keys


class Article(BaseModel):
    """A cleaned article; sentence offsets index into ``text``."""

    model_config = ConfigDict(extra="allow")

    id: str
    text: str
    title: str | None = None
    url: str | None = None
    published_at: str | None = None
    source: str | None = None
    encoding: str | None = None
    script: Script = "hans"
    n_units: int = 0
    boilerplate_removed: dict[str, int] = Field(default_factory=dict)


class SentenceRecord(BaseModel):
    """One reviewable unit of an article: the schema of every stage's JSONL/Parquet rows.

    Stages pass records as plain dicts (cheap to stream); this model documents and validates them.
    """

    model_config = ConfigDict(extra="allow")

    id: str
    article_id: str
    index: int = Field(ge=0)
    kind: Kind = "sentence"
    text: str
    text_norm: str
    script: Script = "hans"
    start: int = Field(ge=0)
    end: int = Field(ge=0)
    duplicate_of: str | None = None
    predictions: dict[str, Any] | None = None
    annotations: list[dict[str, Any]] | None = None
    labels: dict[str, Any] | None = None
