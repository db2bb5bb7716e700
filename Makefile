# Set-up and checks. `make sample` and `make test` are the README's two commands; both create or update
# .venv first, so they work in a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
STUDIO_VENV := .venv-studio
STUDIO_STAMP := $(STUDIO_VENV)/.installed-stamp
SAMPLE_OUT := build/sample

.PHONY: install studio browser sample test bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --editable ".[dev]"
	touch $(STAMP)

install: $(STAMP)

# Label Studio server for `toolkit studio start` and the integration tests.
$(STUDIO_STAMP): configs/label-studio.txt
	test -x $(STUDIO_VENV)/bin/python || $(PYTHON) -m venv $(STUDIO_VENV)
	$(STUDIO_VENV)/bin/python -m pip install --quiet -r configs/label-studio.txt
	touch $(STUDIO_STAMP)

studio: $(STUDIO_STAMP)

# Headless Chromium and a CJK font, for the test that renders `toolkit report` (Debian packages).
browser:
	command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium fonts-wqy-zenhei >/dev/null)

sample: $(STAMP)
	$(BIN)/toolkit ingest examples/articles --out $(SAMPLE_OUT)/sentences.jsonl --quiet
	$(BIN)/toolkit preannotate $(SAMPLE_OUT)/sentences.jsonl --out $(SAMPLE_OUT)/preannotated.jsonl --quiet
	$(BIN)/toolkit dataset build examples/reviewed.jsonl --out $(SAMPLE_OUT)/dataset --ratios 0.6 0.2 0.2
	$(BIN)/toolkit train --config configs/sample.yaml --out $(SAMPLE_OUT)/model --overwrite --quiet
	$(BIN)/toolkit evaluate --model $(SAMPLE_OUT)/model/model-best --data $(SAMPLE_OUT)/dataset --split test --out $(SAMPLE_OUT)/report
	$(BIN)/toolkit predict examples/articles --model $(SAMPLE_OUT)/model/model-best --out $(SAMPLE_OUT)/predictions.jsonl --quiet

test: $(STAMP) $(STUDIO_STAMP) browser
	$(BIN)/python -m pytest

bench: $(STAMP) $(STUDIO_STAMP)
	$(BIN)/python benchmarks/ingest.py
	$(BIN)/python benchmarks/preannotate.py
	$(BIN)/python benchmarks/studio_push.py

clean:
	rm -rf $(VENV) $(STUDIO_VENV) build
