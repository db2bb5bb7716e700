"""Settings for each stage as validated pydantic models, read from YAML with dotted overrides."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator


class IngestConfig(BaseModel):
    """Cleaning and segmentation settings for ``toolkit ingest``."""

    model_config = ConfigDict(extra="forbid")

    max_chars: int = Field(256, ge=8, description="units longer than this are split at a clause boundary")
    heading_max_chars: int = Field(40, ge=1, description="short lines without final punctuation are headings")
    boilerplate: Path | None = Field(None, description="boilerplate rule file (default configs/boilerplate.yaml)")
    encoding: str | None = Field(
        None, description="encoding of input files that are not UTF-8 (gb18030, big5 ...); default: detected per file"
    )

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str | None) -> str | None:
        from toolkit.ingest.decode import codec_name  # here: toolkit.ingest imports this module

        if value is None:
            return None
        try:
            return codec_name(value)
        except LookupError:
            raise ValueError(f"unknown encoding {value!r}") from None
