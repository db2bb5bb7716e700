"""Rule-based segmentation of Chinese news text into reviewable units.

Every unit satisfies ``text[unit.start:unit.end] == unit.text``: units are slices of the input, never
rewritten, so later stages can always point back into the article.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal, NamedTuple

Kind = Literal["sentence", "heading", "bullet", "table_row"]

_SPACE = " \t\u3000\u00a0\ufeff"
# A sentence ends at a run of terminators plus any closing quotes/brackets that follow it. ASCII '.' is
# not a terminator, so decimals (3.5亿, 1.98秒) are never split.
_CLOSERS = "”’\"'」』）)\\]】》〉"
_SENTENCE_END = re.compile(rf"(?:[。！？!?；;]+|…+)[{_CLOSERS}]*")
_CLAUSE_END = re.compile(r"[，,、：:]")
_TERMINAL = "。！？!?；;…，,：:"
_TABLE_ROW = re.compile(r"^\|.*\|$")
_MD_HEADING = re.compile(r"^#{1,6}\s+")
_BULLET_SYMBOL = re.compile(r"^[•●○◆◇▪▫■□►▶✓✔※·\-*+–—]\s*")
_NUMBERED = re.compile(
    r"^(?:\d{1,2}[.、)）](?!\d)|[（(](?:[一二三四五六七八九十]{1,3}|\d{1,2})[)）]|[一二三四五六七八九十]{1,3}[、.])\s*"
)
_NUMBERED_HEADING = re.compile(r"^(?:\d{1,2}\s*[·|｜]|\d{2}\s|第[一二三四五六七八九十\d]{1,3}[章节部分])")


@dataclass(frozen=True)
class SegmentConfig:
    """Segmentation settings.

    max_chars: a unit longer than this is split at the last clause boundary (，、：) before the limit.
    heading_max_chars: a line this short with no sentence punctuation (and none at its end) is a heading.
    """

    max_chars: int = 256
    heading_max_chars: int = 40

    def __post_init__(self) -> None:
        if self.max_chars < 8:
            raise ValueError(f"max_chars must be at least 8, got {self.max_chars}")
        if self.heading_max_chars < 1:
            raise ValueError(f"heading_max_chars must be positive, got {self.heading_max_chars}")


class Unit(NamedTuple):
    start: int
    end: int
    text: str
    kind: Kind


def _lines(text: str) -> Iterator[tuple[int, int]]:
    """Yield (start, end) of each line with surrounding whitespace trimmed; blank lines are skipped."""
    pos = 0
    for raw in text.splitlines(keepends=True):
        line = raw.rstrip("\r\n")
        stripped_left = len(line) - len(line.lstrip(_SPACE))
        content = line.strip(_SPACE)
        if content:
            start = pos + stripped_left
            yield start, start + len(content)
        pos += len(raw)


def _classify(line: str, cfg: SegmentConfig) -> tuple[Kind, int]:
    """Return the line's kind and how many leading markup characters to skip (markdown '#')."""
    if _TABLE_ROW.match(line):
        return "table_row", 0
    heading = _MD_HEADING.match(line)
    if heading:
        return "heading", heading.end()
    short = (
        len(line) <= cfg.heading_max_chars and line[-1] not in _TERMINAL and not _SENTENCE_END.search(line)
    )
    if _BULLET_SYMBOL.match(line) and len(line) > 1:
        return "bullet", 0
    if _NUMBERED.match(line):
        return ("heading" if short else "bullet"), 0
    if short or (_NUMBERED_HEADING.match(line) and len(line) <= cfg.heading_max_chars * 2):
        return "heading", 0
    return "sentence", 0


def _sentences(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    pos = start
    for match in _SENTENCE_END.finditer(text, start, end):
        yield pos, match.end()
        pos = match.end()
        while pos < end and text[pos] in _SPACE:
            pos += 1
    if pos < end:
        yield pos, end


def _clause_cut(text: str, start: int, limit: int) -> int:
    """Last clause boundary in ``text[start:limit]`` that is not a digit separator (1,000)."""
    for match in reversed(list(_CLAUSE_END.finditer(text, start, limit))):
        i = match.start()
        if not (text[i] == "," and text[i - 1 : i].isdigit() and text[i + 1 : i + 2].isdigit()):
            return i + 1
    return limit


def _bounded(text: str, start: int, end: int, max_chars: int) -> Iterator[tuple[int, int]]:
    while end - start > max_chars:
        cut = _clause_cut(text, start, start + max_chars)
        if cut <= start:
            cut = start + max_chars
        yield start, cut
        start = cut
        while start < end and text[start] in _SPACE:
            start += 1
    if start < end:
        yield start, end


def segment(text: str, config: SegmentConfig | None = None) -> list[Unit]:
    """Split ``text`` into units; line breaks always end a unit.

    Sentences end at 。！？!?；; or …, keeping closing quotes and brackets. Headings, bullets and table
    rows are whole lines. Any unit longer than ``config.max_chars`` is split at a clause boundary.
    """
    cfg = config or SegmentConfig()
    units: list[Unit] = []
    for line_start, line_end in _lines(text):
        kind, skip = _classify(text[line_start:line_end], cfg)
        body_start = line_start + skip
        spans = [(body_start, line_end)] if kind != "sentence" else _sentences(text, body_start, line_end)
        for s_start, s_end in spans:
            for u_start, u_end in _bounded(text, s_start, s_end, cfg.max_chars):
                units.append(Unit(u_start, u_end, text[u_start:u_end], kind))
    return units
