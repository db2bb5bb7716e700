"""The ingest stage: raw articles in, cleaned articles and sentence records out."""

from __future__ import annotations

import operator
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.progress import TextColumn

from toolkit.config import IngestConfig
from toolkit.ingest.boilerplate import load_rules
from toolkit.ingest.clean import clean_article
from toolkit.ingest.normalize import Script, normalize, unit_scripts
from toolkit.errors import InputError
from toolkit.ingest.sources import SUPPORTED, RawArticle, Skipped, discover, read_sources
from toolkit.io import RecordWriter, refuse_overwrite, sidecar_path
from toolkit.progress import progress_bar
from toolkit.records import article_id_for, sentence_ids
from toolkit.segment import SegmentConfig, unit_spans


_KIND = operator.itemgetter("kind")
_IS_DUPLICATE = operator.methodcaller("__contains__", "duplicate_of")
_PROGRESS_EVERY = 256  # articles between updates of the count beside the bar
_EMPTY = "no text left after cleaning"


@dataclass
class IngestSummary:
    """What a run produced and what it could not read."""

    articles: int = 0
    sentences: int = 0
    by_kind: Counter[str] = field(default_factory=Counter)
    duplicates: int = 0
    boilerplate: Counter[str] = field(default_factory=Counter)  # lines each rule removed, all articles
    skipped: list[Skipped] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)
    empty_articles: list[str] = field(default_factory=list)

    def problems(self) -> list[dict[str, str]]:
        """Every skipped input and every warning, one row each: what ``<out>.log.jsonl`` holds."""
        return [
            *({"level": "skipped", "source": item.source, "message": item.reason} for item in self.skipped),
            *({"level": "warning", "source": source, "message": message} for source, message in self.warnings),
            *({"level": "warning", "source": source, "message": _EMPTY} for source in self.empty_articles),
        ]

    def require_articles(self, inputs: Iterable[str | Path]) -> None:
        """Raise ``NoArticleRead`` saying why, when the run read no article: every later stage would be empty."""
        if self.articles:
            return
        if self.skipped:
            shown = "; ".join(f"{item.source}: {item.reason}" for item in self.skipped[:3])
            more = f" (and {len(self.skipped) - 3} more)" if len(self.skipped) > 3 else ""
            raise NoArticleRead(self, f"no article read: {len(self.skipped)} input(s) skipped: {shown}{more}")
        kinds = " ".join(sorted(SUPPORTED))
        raise NoArticleRead(self, f"no article read: no {kinds} file (or .gz of one) in {', '.join(map(str, inputs))}")


class NoArticleRead(InputError):
    """The run read no article. Raised before the outputs are renamed into place, so a failed run leaves the
    files of an earlier one as they were; ``summary`` says what was skipped."""

    def __init__(self, summary: IngestSummary, message: str) -> None:
        super().__init__(message)
        self.summary = summary


def sentence_records(
    article_id: str, text: str, config: SegmentConfig, text_norm: str | None = None
) -> list[dict[str, Any]]:
    """Segment a cleaned article text into sentence records with stable ids and offsets into ``text``.

    Records are plain dicts with the fields of :class:`~toolkit.records.SentenceRecord` (what every stage
    reads and writes); building them directly keeps ingest fast. ``text_norm`` (``normalize(text)``,
    computed if not given) is character-aligned with ``text``, so each unit's normal form is a slice of it.
    """
    return _records(article_id, text, config, text_norm)[1]


def _records(
    article_id: str, text: str, config: SegmentConfig, text_norm: str | None
) -> tuple[Script, list[dict[str, Any]]]:
    """``sentence_records`` plus the article's script, which comes out of the same pass."""
    if text_norm is None:
        text_norm = normalize(text)
    spans = unit_spans(text, config)
    article_script, scripts = unit_scripts(text, spans)
    norms = [text_norm[start:end] for start, end, _ in spans]
    ids = sentence_ids(article_id, norms)
    records = [
        {
            "id": sentence_id,
            "article_id": article_id,
            "index": index,
            "kind": kind,
            "text": text[start:end],
            "text_norm": norm,
            "script": script,
            "start": start,
            "end": end,
        }
        for index, (sentence_id, (start, end, kind), norm, script) in enumerate(zip(ids, spans, norms, scripts))
    ]
    return article_script, records


class Ingestor:
    """Turns ``RawArticle``s into (article, records), tracking ids and duplicates across one run.

    Both are plain dicts with the fields of :class:`~toolkit.records.Article` and
    :class:`~toolkit.records.SentenceRecord` (unset fields left out), ready to write; per-article model
    objects were a measurable share of ingest time.
    """

    def __init__(self, config: IngestConfig | None = None) -> None:
        self.config = config or IngestConfig()
        self.rules = load_rules(self.config.boilerplate)
        self.segment_config = SegmentConfig(self.config.max_chars, self.config.heading_max_chars)
        self._article_ids: set[str] = set()
        self._first_seen: dict[str, str] = {}

    def _unique_article_id(self, raw: RawArticle, text: str) -> str:
        article_id = raw.id or article_id_for(text)
        if article_id in self._article_ids:
            article_id = f"{article_id}-{article_id_for(raw.source + text)[1:9]}"
        self._article_ids.add(article_id)
        return article_id

    def process(self, raw: RawArticle) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        cleaned = clean_article(raw, self.rules)
        article_id = self._unique_article_id(raw, cleaned.text)
        script, records = _records(article_id, cleaned.text, self.segment_config, cleaned.text_norm)
        # First id of each normalised text, looked up with one C-level map; most articles repeat nothing.
        ids = [rec["id"] for rec in records]
        firsts = list(map(self._first_seen.setdefault, [rec["text_norm"] for rec in records], ids))
        if firsts != ids:
            for rec, first in zip(records, firsts):
                if first != rec["id"] and rec["kind"] != "heading":
                    rec["duplicate_of"] = first
        article = {
            "id": article_id,
            "text": cleaned.text,
            "title": cleaned.title,
            "url": cleaned.url,
            "published_at": cleaned.published_at,
            "source": raw.source,
            "encoding": raw.encoding,
            "script": script,
            "n_units": len(records),
            "boilerplate_removed": cleaned.removed,
        }
        return {key: value for key, value in article.items() if value is not None}, records


def ingest_articles(
    raws: Iterable[RawArticle], config: IngestConfig | None = None
) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Python API: clean and segment articles already in memory."""
    ingestor = Ingestor(config)
    for raw in raws:
        yield ingestor.process(raw)


def ingest(
    inputs: Iterable[str | Path],
    out: str | Path,
    config: IngestConfig | None = None,
    *,
    show_progress: bool = True,
) -> IngestSummary:
    """Read every input, write sentence records to ``out`` and cleaned articles to ``<out>.articles.jsonl``.

    Unreadable files and malformed JSONL lines are skipped and listed in the summary and, with every
    warning, in ``<out>.log.jsonl``; nothing else is lost. An output that is also an input (``--out``
    inside an input folder from an earlier run) is refused. A run that reads no article raises
    ``NoArticleRead`` and writes nothing: earlier outputs stay as they were.
    """
    files = discover(inputs)
    refuse_overwrite(files, (out, sidecar_path(out, "articles"), sidecar_path(out, "log")))
    ingestor = Ingestor(config)
    summary = IngestSummary()
    # The bar counts files; the article count beside it moves inside a large JSONL file too.
    bar = progress_bar(TextColumn("{task.fields[articles]:,} articles"), disable=not show_progress)
    with (
        bar,
        RecordWriter(out) as sentences,
        RecordWriter(sidecar_path(out, "articles")) as articles,
        RecordWriter(sidecar_path(out, "log")) as log,
    ):
        job = bar.add_task("ingest", total=len(files), articles=0)
        for item in read_sources(bar.track(files, task_id=job), ingestor.config.encoding):
            if isinstance(item, Skipped):
                summary.skipped.append(item)
                continue
            if item.warning:
                summary.warnings.append((item.source, item.warning))
            article, records = ingestor.process(item)
            articles.write(article)
            summary.articles += 1
            if article["boilerplate_removed"]:
                summary.boilerplate.update(article["boilerplate_removed"])
            if not records:
                summary.empty_articles.append(item.source)
            sentences.write_many(records)
            summary.by_kind.update(map(_KIND, records))
            summary.duplicates += sum(map(_IS_DUPLICATE, records))
            summary.sentences += len(records)
            if not summary.articles % _PROGRESS_EVERY:
                bar.update(job, articles=summary.articles)
        bar.update(job, articles=summary.articles)
        summary.require_articles(inputs)  # inside the writers: a failed run commits none of them
        log.write_many(summary.problems())
    return summary
