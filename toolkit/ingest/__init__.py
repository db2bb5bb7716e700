"""Ingest stage: decode, clean and segment raw articles into sentence records."""

from toolkit.ingest.pipeline import IngestSummary, ingest, ingest_articles, sentence_records
from toolkit.ingest.sources import RawArticle

__all__ = ["IngestSummary", "RawArticle", "ingest", "ingest_articles", "sentence_records"]
