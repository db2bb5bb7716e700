"""Split cleaned article text into units (sentence, heading, bullet, table row) with exact offsets."""

from toolkit.segment.segmenter import SegmentConfig, Unit, unit_spans, segment

__all__ = ["SegmentConfig", "Unit", "unit_spans", "segment"]
