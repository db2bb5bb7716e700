"""Markdown file to article text: the same plain structured text as an HTML page (see ``html``).

Articles saved as Markdown (web clippers, reader services, note apps) carry ``[text](url)`` links,
``![](image)`` lines, ``**bold**``, ``---`` rules and a YAML front matter block; read as plain text, all of
it reached annotators and models, and ``title: …`` lines became headings. markdown-it parses the file
(CommonMark plus tables); the rendering keeps ``#`` headings, ``-`` list items, ``| a | b |`` table rows
and one line per source line of a paragraph, with inline markup reduced to its text. The front matter
gives the title, published date and web address when it has them. A line of nothing but links is navigation and goes.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Sequence

import lxml.html
import yaml
from lxml.etree import ParserError
from markdown_it import MarkdownIt
from markdown_it.token import Token

from toolkit.ingest.page import Page, list_lines, nonblank, page_text, table_rows

_FRONT_MATTER = re.compile(r"\A\ufeff?---[ \t]*\r?\n(.*?)\r?\n(?:---|\.\.\.)[ \t]*(?:\r?\n|\Z)", re.DOTALL)
_TITLE_KEYS = ("title",)
_DATE_KEYS = ("published_at", "published", "date")
# A web clipper writes the page's address as `source:` or `url:`; only a web address is taken, as `source`
# may also name a publication.
_URL_KEYS = ("url", "source", "link", "canonical_url")
_WEB_ADDRESS = re.compile(r"https?://\S+")
_PARSER = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
_LINE_BREAKS = frozenset({"softbreak", "hardbreak"})
_LINK_SEPARATORS = re.compile(r"[\s|｜/·•>»,，、;；-]*")  # what stands between the links of a menu


def extract_markdown(source: str) -> Page:
    """The file's text (see the module docstring), and the title, date and address its front matter gives."""
    meta: dict[object, object] = {}
    if front := _FRONT_MATTER.match(source):
        meta = _front_matter(front.group(1))
        source = source[front.end() :]
    text = page_text(map(_block, _split_blocks(_PARSER.parse(source))))
    return Page(text, _scalar(meta, _TITLE_KEYS), _scalar(meta, _DATE_KEYS), _web_address(meta))


def _front_matter(block: str) -> dict[object, object]:
    """A YAML front matter block's fields; none from one that is not a YAML mapping."""
    try:
        meta = yaml.safe_load(block)
    except yaml.YAMLError:
        return {}
    return meta if isinstance(meta, dict) else {}


def _scalar(meta: dict[object, object], keys: Sequence[str]) -> str | None:
    for key in keys:
        value = meta.get(key)
        if isinstance(value, dt.datetime):
            value = value.date()
        if isinstance(value, dt.date):
            return value.isoformat()
        if isinstance(value, (str, int, float)) and not isinstance(value, bool) and str(value).strip():
            return str(value).strip()
    return None


def _web_address(meta: dict[object, object]) -> str | None:
    for key in _URL_KEYS:
        value = meta.get(key)
        if isinstance(value, str) and _WEB_ADDRESS.fullmatch(value.strip()):
            return value.strip()
    return None


def _split_blocks(tokens: list[Token]) -> Iterator[list[Token]]:
    """The tokens of each block in ``tokens``, from its opening token to its closing one."""
    i = 0
    while i < len(tokens):
        end = _close(tokens, i)
        yield tokens[i : end + 1]
        i = end + 1


def _close(tokens: list[Token], i: int) -> int:
    """Index of the token that closes the block opened at ``i`` (``i`` itself for a self-contained one)."""
    depth = 0
    for j in range(i, len(tokens)):
        depth += tokens[j].nesting
        if depth <= 0:
            return j
    return len(tokens) - 1


def _lines(tokens: list[Token]) -> list[str]:
    """The blocks inside a list item or a quote, as consecutive lines."""
    return [line for block in _split_blocks(tokens) for line in _block(block)]


def _block(tokens: list[Token]) -> list[str]:
    """The lines of one block: heading, list, table, quote, code, HTML or paragraph; a rule has none."""
    first = tokens[0]
    if first.type == "heading_open":
        text = " ".join(_inline(tokens[1]))
        return [f"{first.markup} {text}"] if text else []
    if first.type in ("bullet_list_open", "ordered_list_open"):
        return list_lines(_lines(item[1:-1]) for item in _split_blocks(tokens[1:-1]))
    if first.type == "table_open":
        return table_rows(_cells(tokens, j) for j, token in enumerate(tokens) if token.type == "tr_open")
    if first.type == "blockquote_open":
        return _lines(tokens[1:-1])
    if first.type in ("fence", "code_block"):
        return nonblank(first.content.split("\n"))
    if first.type == "html_block":
        return _html_lines(first.content)
    return [line for token in tokens if token.type == "inline" for line in _inline(token, keep_link_lines=False)]


def _cells(tokens: list[Token], row: int) -> list[str]:
    """The one-line text of each cell of the table row opened at ``row``."""
    cells: list[str] = []
    for token in tokens[row + 1 :]:
        if token.type == "tr_close":
            break
        if token.type == "inline":
            cells.append(" ".join(_inline(token)))
    return cells


def _inline(token: Token, keep_link_lines: bool = True) -> list[str]:
    """An inline run's text as lines: links and emphasis keep their text, images and HTML tags go.

    Without ``keep_link_lines`` a line of nothing but links (a site menu, a "相关阅读" list, "阅读原文") is
    navigation, not article text, and gives no line: the link-density test trafilatura applies to HTML.
    """
    lines: list[str] = []
    text: list[str] = []
    unlinked: list[str] = []
    depth, linked = 0, False
    for child in [*(token.children or ()), None]:  # None ends the last line
        if child is None or child.type in _LINE_BREAKS:
            line = "".join(text).strip()
            if line and (keep_link_lines or not linked or not _LINK_SEPARATORS.fullmatch("".join(unlinked))):
                lines.append(line)
            text, unlinked, linked = [], [], False
        elif child.type == "link_open":
            depth, linked = depth + 1, True
        elif child.type == "link_close":
            depth -= 1
        elif child.type in ("text", "code_inline"):
            text.append(child.content)
            if not depth:
                unlinked.append(child.content)
    return lines


def _html_lines(html: str) -> list[str]:
    """The text of a raw HTML block (a centred caption, a ``<div>`` of text); comments and embeds give none."""
    try:
        root = lxml.html.fragment_fromstring(html, create_parent="div")
    except ParserError:
        return []
    return nonblank(root.text_content().split("\n"))
