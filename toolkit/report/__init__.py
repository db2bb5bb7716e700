"""A self-contained HTML report of a pipeline work dir."""
