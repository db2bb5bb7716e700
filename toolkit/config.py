"""Settings for each stage as validated pydantic models, read from YAML with dotted overrides."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class IngestConfig(BaseModel):
    """Cleaning and segmentation settings for ``toolkit ingest``."""

    model_config = ConfigDict(extra="forbid")

    max_chars: int = Field(256, ge=8, description="units longer than this are split at a clause boundary")
    heading_max_chars: int = Field(40, ge=1, description="short lines without final punctuation are headings")
    boilerplate: Path | None = Field(None, description="boilerplate rule file (default configs/boilerplate.yaml)")
