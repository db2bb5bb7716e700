"""The whole workflow in one command, each stage skipped when its inputs are unchanged."""
