"""What ``predict`` reads: sentence records as they are, articles through ingest.

Apart from the runner because the Ray engine's ingest tasks import it, and they should not pay for
importing PyTorch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from toolkit.ingest import ingest_articles
from toolkit.ingest.sources import RawArticle, read_sources
from toolkit.io import Skipped, iter_jsonl, text_records


def _is_sentence_file(path: Path) -> bool:
    """Sentence-record JSONL/Parquet (from ingest or preannotate) rather than article JSONL."""
    if path.suffix.lower() == ".parquet":
        return True
    if path.suffix.lower() not in (".jsonl", ".ndjson"):
        return False
    first = next((obj for _, obj in iter_jsonl(path) if isinstance(obj, dict)), None)
    return first is not None and ("start" in first or "text_norm" in first or "predictions" in first)


def input_records(files: Iterable[Path], skipped: list[Skipped], *,
                  rename: Callable[[str], str] | None = None) -> Iterator[dict[str, Any]]:
    """Sentence records from sentence files as they are (one without a string ``text`` or an ``id`` is skipped
    and listed), and from articles through ingest. ``rename`` maps an article's source as read to the name it
    goes by (the Ray engine reads local copies of remote files, and a clashing article id is renamed by it)."""
    articles: list[Path] = []
    for path in files:
        if _is_sentence_file(path):
            yield from text_records(path, skipped, required=("id",))
        else:
            articles.append(path)
    raws: list[RawArticle] = []
    for item in read_sources(articles):
        if isinstance(item, Skipped):
            skipped.append(item)
        else:
            if rename is not None:
                item.source = rename(item.source)
            raws.append(item)
    for _, records in ingest_articles(raws):
        yield from records
