"""The plain structured text that HTML and Markdown are rendered into: what segmentation reads, no markup.

``#`` headings, ``- `` list items, ``| a | b |`` table rows, one line per paragraph line, a blank line
between blocks. Both renderers (``html``, ``markdown``) build their text with these helpers, so the two
formats give the same units for the same structure.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(slots=True)
class Page:
    text: str
    title: str | None
    published_at: str | None
    url: str | None = None


def page_text(blocks: Iterable[list[str]]) -> str:
    """Blocks of lines as text: lines on their own line, a blank line between blocks, empty blocks gone."""
    return "\n\n".join("\n".join(lines) for lines in blocks if lines)


def table_rows(rows: Iterable[list[str]]) -> list[str]:
    """``| a | b |`` per row of one-line cells; a row without text gives none."""
    return [f"| {' | '.join(cells)} |" for cells in rows if any(cells)]


def list_lines(items: Iterable[list[str]]) -> list[str]:
    """Each item's lines, ``- `` before its first; numbered lists too, as ``1.`` on a short line reads as a
    heading."""
    return [line for lines in items if lines for line in ["- " + lines[0], *lines[1:]]]


def nonblank(lines: Iterable[str]) -> list[str]:
    """The lines stripped, blank ones dropped."""
    return [line for raw in lines if (line := raw.strip())]
