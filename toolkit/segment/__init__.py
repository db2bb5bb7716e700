"""Split cleaned article text into units (sentence, heading, bullet, table row) with exact offsets."""

from toolkit.segment.segmenter import SegmentConfig, Unit, segment

__all__ = ["SegmentConfig", "Unit", "segment"]
