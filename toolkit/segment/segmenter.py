"""Rule-based segmentation of Chinese news text into reviewable units.

Every unit satisfies ``text[unit.start:unit.end] == unit.text``: units are slices of the input, never
rewritten, so later stages can always point back into the article.

The rules are compiled into one regular expression that walks the whole text once (``finditer``): each
match is a unit and the named group that matched gives its kind. The per-unit work left in Python is
reading that group's span, which is what makes ingest fast.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal, NamedTuple

Kind = Literal["sentence", "heading", "bullet", "table_row"]

# Line breaks are what str.splitlines() splits on; "space" is every other whitespace character plus the
# byte-order mark, stripped from both ends of a line and skipped between sentences.
_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
_SPACE = "".join(c for c in map(chr, range(0x3001)) if c.isspace() and c not in _BREAKS) + "\ufeff"
# A sentence ends at a run of terminators plus any closing quotes/brackets that follow it. ASCII '.' is
# not a terminator, so decimals (3.5亿, 1.98秒) are never split.
_CLOSERS = "”’\"'」』）)\\]】》〉"
_ENDS = "。！？!?；;…"
_TERMINAL = _ENDS + "，,：:"  # a line ending in one of these is text, not a heading
_BULLET_SYMBOLS = r"•●○◆◇▪▫■□►▶✓✔※·\-*+–—"
_CLAUSE_END = re.compile(r"[，,、：:]")
# Characters that carry no content: punctuation and symbols (math, modifier, currency), not the "other"
# symbols (emoji, ©, °). A unit of nothing else (a rule ---, ***, ———, a table row |---|---| or | | |, a
# lone bullet mark, a stray 。 after a space) is not made.
_MARKS = "".join(
    re.escape(c)
    for c in map(chr, range(0x10000))
    if (category := unicodedata.category(c))[0] == "P" or category in ("Sm", "Sk", "Sc")
)


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


# Group name in the unit pattern -> the unit's kind.
_KINDS: dict[str, Kind] = {
    "table": "table_row",
    "markdown": "heading",
    "bullet": "bullet",
    "numbered_heading": "heading",
    "numbered_item": "bullet",
    "short": "heading",
    "section": "heading",
    "sentence": "sentence",
}


@functools.lru_cache(maxsize=8)
def _unit_pattern(heading_max_chars: int) -> tuple[re.Pattern[str], tuple[Kind, ...], int]:
    """The unit regex for one heading length, the unit kind of each of its group numbers, and the group
    number of a match that is no unit.

    Line kinds are tried in order at each line's start:

    1. table row ``| a | b |``; 2. markdown heading ``## 标题`` (the unit is the text after the marks);
    3. bullet ``• …``; 4. numbered line ``1.`` ``（一）`` ``一、``: a heading when short, else a bullet;
    5. short line without sentence punctuation: heading; 6. section line ``01 …`` ``第一章``
    up to twice that length: heading; 7. otherwise sentences, each ending at a terminator run.
    Where the rest of a line is only punctuation and symbols, the line kinds fail (``content``) and the
    ``no_unit`` group takes it whole, in one match: refusing it position by position instead would scan
    the rest of the line again from each position of a long ``-----`` line.
    """
    char, last = f"[^{_BREAKS}]", f"[^{_BREAKS}{_SPACE}]"
    inline_space = f"[^\\S{_BREAKS}]"
    eol = f"(?=[{_SPACE}]*+(?:[{_BREAKS}]|\\Z))"
    line = f"{last}(?:{char}*{last})?{eol}"  # from a line's first content character to its last one
    # A short line: a cheap possessive length check first, so long lines fail without backtracking.
    short = (
        f"(?=[^{_BREAKS}{_ENDS}]{{1,{heading_max_chars}}}+{eol})"
        f"(?=[^{_BREAKS}{_ENDS}]{{0,{heading_max_chars - 1}}}[^{_BREAKS}{_SPACE}{_TERMINAL}]{eol})"
    )
    numbered = (
        r"(?:\d{1,2}[.、)）](?!\d)|[（(](?:[一二三四五六七八九十]{1,3}|\d{1,2})[)）]|[一二三四五六七八九十]{1,3}[、.])"
    )
    section = f"(?:\\d{{1,2}}{inline_space}*[·|｜]|\\d{{2}}{inline_space}|第[一二三四五六七八九十\\d]{{1,3}}[章节部分])"
    section_len = f"(?={char}{{0,{2 * heading_max_chars - 1}}}{last}{eol})"
    marks_to_eol = f"[{_MARKS}{_SPACE}]*+(?=[{_BREAKS}]|\\Z)"
    content = f"(?!{marks_to_eol})"  # tried only where a table row, bullet or short heading would start
    line_kinds = "|".join(
        (
            f"(?P<table>\\|{content}{char}*\\|){eol}",
            f"#{{1,6}}+{inline_space}++[{_SPACE}]*+(?P<markdown>{line})",
            f"(?P<bullet>[{_BULLET_SYMBOLS}]{content}{char}*{last}){eol}",
            f"(?={numbered})(?:{short}(?P<numbered_heading>{line})|(?P<numbered_item>{line}))",
            f"{short}{content}(?P<short>{line})",
            f"(?={section}){section_len}(?P<section>{line})",
        )
    )
    # Up to the first terminator run and its closers, or to the line's last non-space character.
    sentence = (
        f"(?P<sentence>(?={last})[^{_BREAKS}{_ENDS}]*(?:[{_ENDS}][{_ENDS}{_CLOSERS}]*+|(?<![{_SPACE}])))"
    )
    no_unit = f"(?P<no_unit>[{_MARKS}]{marks_to_eol})"
    pattern = re.compile(f"(?:\\A|(?<=[{_BREAKS}]))[{_SPACE}]*+(?:{line_kinds})|{no_unit}|{sentence}")
    names = {index: name for name, index in pattern.groupindex.items()}
    kinds = tuple(_KINDS.get(names.get(index, ""), "sentence") for index in range(pattern.groups + 1))
    return pattern, kinds, pattern.groupindex["no_unit"]


def _clause_cut(text: str, start: int, limit: int) -> int:
    """Last clause boundary in ``text[start:limit]`` that is not a digit separator (1,000)."""
    for match in reversed(list(_CLAUSE_END.finditer(text, start, limit))):
        i = match.start()
        if not (text[i] == "," and text[i - 1 : i].isdigit() and text[i + 1 : i + 2].isdigit()):
            return i + 1
    return limit


def _bounded(text: str, start: int, end: int, max_chars: int) -> Iterator[tuple[int, int]]:
    """Cut an over-long unit into pieces of at most ``max_chars``, none starting or ending with space."""
    while end - start > max_chars:
        cut = _clause_cut(text, start, start + max_chars)
        if cut <= start:
            cut = start + max_chars
        piece_end = cut
        while text[piece_end - 1] in _SPACE:
            piece_end -= 1
        yield start, piece_end
        start = cut
        while start < end and text[start] in _SPACE:
            start += 1
    if start < end:
        yield start, end


def unit_spans(text: str, config: SegmentConfig | None = None) -> list[tuple[int, int, Kind]]:
    """``(start, end, kind)`` of each unit in order: ``segment`` without building ``Unit`` objects."""
    cfg = config or SegmentConfig()
    pattern, kinds, no_unit = _unit_pattern(cfg.heading_max_chars)
    # The unit is the last group that matched (named groups hold no others); by index, as names cost more.
    spans = [(m.start(i), m.end(i), kinds[i]) for m in pattern.finditer(text) if (i := m.lastindex) != no_unit]
    if all(end - start <= cfg.max_chars for start, end, _ in spans):
        return spans
    return [
        (piece_start, piece_end, kind)
        for start, end, kind in spans
        for piece_start, piece_end in _bounded(text, start, end, cfg.max_chars)
    ]


def segment(text: str, config: SegmentConfig | None = None) -> list[Unit]:
    """Split ``text`` into units; line breaks always end a unit.

    Sentences end at 。！？!?；; or …, keeping closing quotes and brackets. Headings, bullets and table
    rows are whole lines; a line of only punctuation and symbols is none. Any unit longer than
    ``config.max_chars`` is split at a clause boundary.
    """
    return [Unit(start, end, text[start:end], kind) for start, end, kind in unit_spans(text, config)]
