"""HTML page to article text: trafilatura finds the body, and its XML is rendered as the text ingest reads.

Why not trafilatura's own markdown: it escapes characters that news text uses literally (``[1810.HK]``
becomes ``\\[1810.HK\\]``, ``30~35港元`` ``30\\~35港元``, a paragraph ``1. …`` ``1\\. …``), wraps bold and italic
in ``**``/``*`` and writes a ``|---|`` row under each table header; all of it would reach annotators and
models. The rendering here keeps only the structure segmentation reads: ``#`` headings, ``-`` list
items, ``| a | b |`` table rows, one line per paragraph (``<br>`` starts a new one), a blank line between
blocks; inline markup (bold, links) keeps its text only.
"""

from __future__ import annotations

import re
from configparser import ConfigParser

import trafilatura
from lxml.etree import _Element
from trafilatura.baseline import basic_cleaning
from trafilatura.settings import use_config

from toolkit.ingest.page import Page, list_lines, nonblank, page_text, table_rows

# Below MIN_EXTRACTED_SIZE characters trafilatura replaces its structured extraction with a dump of the
# page's text (``_is_text_dump``). Its default (250) is tuned for alphabetic text; 250 Chinese characters
# are a whole news brief. Below this many the structured result is too short to trust (it drops a short
# page's headline) and the dump, rendered again with its blocks (``_dump_lines``), is the better guess.
_MIN_EXTRACTED_CHARS = 50
# Elements whose start and end break a line in the dump: HTML's block elements, and <br>.
_DUMP_BREAKS = (
    "address", "article", "blockquote", "br", "dd", "div", "dl", "dt", "figcaption", "figure", "form",
    "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main", "nav", "ol", "p", "pre", "table",
    "td", "th", "tr", "ul",
)
# Blocks in trafilatura's XML; every other element (hi, ref, del …) is inline and keeps its text only.
_BLOCKS = frozenset({"p", "head", "list", "table", "quote", "code", "pre", "div"})
_HEADING = re.compile(r"h([1-6])")
# Table rows and cells as trafilatura names them, and as HTML does: where a block holds text of its own
# besides a table (<div>导语…<table>), trafilatura keeps that table's HTML rows unconverted.
_ROWS, _CELLS = ("row", "tr"), ("cell", "td", "th")
_HTML_SPACE = re.compile(r"[ \t\n\r\f]+")  # not U+3000 or U+00A0, which a browser keeps
# Chinese sites title a page "headline_channel_site" (小米汽车交付提速_网易订阅, …_财经频道_新浪网), with no
# spaces around the underscore; trafilatura splits a <title> only at a spaced separator (" - ", " | ").
_SITE_SUFFIX = re.compile(r"(?:_[^_]{1,20})+$")
_MIN_HEADLINE_CHARS = 4  # 小米_百度百科 names a page about 小米: its head is too short to be a headline
# A document has a doctype, <html>, <head> or <body>; an article body from a scraper's JSONL
# (`"html": "<p>…</p>"`) has none, and trafilatura rejects it when it parses to fewer than two blocks.
_DOCUMENT_TAG = re.compile(r"<(?:!doctype|html|head|body)[\s>]", re.IGNORECASE)
_SECTION_TAG = re.compile(r"<(/?)section(?=[\s/>])", re.IGNORECASE)  # opening or closing


def _config() -> ConfigParser:
    config = use_config()
    config.set("DEFAULT", "MIN_EXTRACTED_SIZE", str(_MIN_EXTRACTED_CHARS))
    # Only dates the page states (meta tags, <time>, the URL): the extensive search turns a footer's
    # "© 2025" into a published date of 2025-01-01.
    config.set("DEFAULT", "EXTENSIVE_DATE_SEARCH", "off")
    return config


_CONFIG = _config()


def extract_page(html: str) -> Page:
    """The page's main text (see the module docstring), its headline, its published date (YYYY-MM-DD) and its
    own address (canonical link or og:url), which a saved page keeps while its file name loses it.

    A fragment (no doctype, ``<html>``, ``<head>`` or ``<body>``) is read as an article's body. Its text
    goes in a ``<p>``, which the parser closes where the fragment's first block starts: trafilatura skips
    text outside a block, and in an ``<article>`` it keeps the structure of a short body (headings,
    lists) that it flattens into one line elsewhere.

    ``<section>`` is read as ``<div>`` (its tags renamed in the markup, which costs less than a second
    parse): trafilatura treats the two alike when it looks for the main container but, unlike a
    ``<div>``, skips a ``<section>`` when it collects text. WeChat articles (公众号) are
    ``<section><span>…</span></section>`` throughout: their extraction fell back to one that dropped the
    sub-headings and ran every paragraph into one line.
    """
    if not _DOCUMENT_TAG.search(html):
        html = f"<html><body><article><p>{html}</p></article></body></html>"
    html = _SECTION_TAG.sub(r"<\1div", html)
    doc = trafilatura.bare_extraction(
        html, include_tables=True, include_formatting=True, include_comments=False, with_metadata=True,
        config=_CONFIG,
    )
    if doc is None or doc.body is None:
        return Page("", None, None)
    text = "\n".join(_dump_lines(html)) if _is_text_dump(doc.body) else page_text(map(_block, doc.body))
    return Page(text, doc.title and _headline(doc.title), doc.date, doc.url)


def _is_text_dump(body: _Element) -> bool:
    """Whether trafilatura gave its last resort for a page with little text: every text node of the page
    on a line of its own in one ``<p>``. Its structured results never hold a line break in text."""
    return len(body) == 1 and body[0].tag == "p" and not len(body[0]) and "\n" in (body[0].text or "")


def _dump_lines(html: str) -> list[str]:
    """The page's text as trafilatura's dump has it (scripts, footers and asides gone), with a line per
    block instead of per text node: the dump broke a sentence at each link or bold word, where joining
    its lines ran the headline and the paragraphs into one line with spaces inside the sentences."""
    tree = trafilatura.load_html(html)
    body = None if tree is None else tree.find(".//body")
    if body is None:
        return []
    basic_cleaning(body)
    for element in body.iter():
        element.text, element.tail = _collapse(element.text), _collapse(element.tail)
    for element in body.iter(*_DUMP_BREAKS):
        element.text, element.tail = f"\n{element.text}", f"\n{element.tail}"
    return nonblank(body.text_content().split("\n"))


def _headline(title: str) -> str:
    """The title without the site and channel names that Chinese sites append with underscores."""
    head = _SITE_SUFFIX.sub("", title).strip()
    return head if len(head) >= _MIN_HEADLINE_CHARS else title


def _block(element: _Element) -> list[str]:
    """The lines of one block element; an empty heading, table row or list item gives none."""
    if element.tag == "head":
        match = _HEADING.fullmatch(element.get("rend") or "")
        text = _one_line(element)
        return [f"{'#' * int(match.group(1) if match else 2)} {text}"] if text else []
    if element.tag == "table":
        rows = element.iterchildren(*_ROWS)
        return table_rows([_one_line(cell) for cell in row.iterchildren(*_CELLS)] for row in rows)
    if element.tag == "list":
        return list_lines(map(_lines, element.iterchildren("item")))
    return _lines(element)


def _lines(element: _Element) -> list[str]:
    """Inline content as lines (a new one at each ``<lb/>``), nested blocks as their own lines, in order."""
    lines: list[str] = []
    run = [_collapse(element.text)]
    for child in element:
        if child.tag in _BLOCKS:
            lines += _split(run) + _block(child)
            run = []
        elif child.tag == "lb":
            run.append("\n")
        elif child.tag != "graphic":
            run.append(_inline(child))
        run.append(_collapse(child.tail))
    return lines + _split(run)


def _inline(element: _Element) -> str:
    """The text of an inline element and everything in it, ``<lb/>`` as a line break."""
    parts = [_collapse(element.text)]
    for child in element:
        parts.append("\n" if child.tag == "lb" else _inline(child))
        parts.append(_collapse(child.tail))
    return "".join(parts)


def _one_line(element: _Element) -> str:
    """A heading's or table cell's content on one line."""
    return " ".join(_lines(element))


def _collapse(text: str | None) -> str:
    """White space as HTML renders it: a run of spaces, tabs and source line breaks is one space."""
    return _HTML_SPACE.sub(" ", text) if text else ""


def _split(run: list[str]) -> list[str]:
    """The non-empty lines of a run of inline text."""
    return nonblank("".join(run).split("\n"))
