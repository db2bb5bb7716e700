# Set-up and checks. `make sample` and `make test` are the README's two commands; both create or update
# .venv first, so they work in a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
SAMPLE_OUT := build/sample

.PHONY: install sample test bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --editable ".[dev]"
	touch $(STAMP)

install: $(STAMP)

sample: $(STAMP)
	$(BIN)/toolkit ingest examples/articles --out $(SAMPLE_OUT)/sentences.jsonl --quiet
	$(BIN)/toolkit preannotate $(SAMPLE_OUT)/sentences.jsonl --out $(SAMPLE_OUT)/preannotated.jsonl --quiet

test: $(STAMP)
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/ingest.py
	$(BIN)/python benchmarks/preannotate.py

clean:
	rm -rf $(VENV) build
