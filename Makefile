# `make run` and `make test` work from a clean clone: they install from the lock (uv.lock) first.
#
#   make run [PORT=8000] [HOST=127.0.0.1] [DATA_DIR=./var]   the demo (service + both sandboxes)
#   make test                 lint and every test (what CI runs); fails if either fails
#   make test-fast            the tests not marked slow, no lint
#   make lock                 upgrade every dependency on purpose, then run the suite against it
#   make screenshots          refresh docs/screenshots/ from the browser tests
PYTHON ?= python3
HOST ?= 127.0.0.1
PORT ?= 8000
DATA_DIR ?= ./var

VENV := .venv
BIN := $(VENV)/bin
TOOLS := .tools
UV := $(TOOLS)/bin/uv

# uv installs into .venv with the interpreter found as $(PYTHON); it never downloads a Python.
export UV_PYTHON := $(PYTHON)
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: install install-runtime run test test-fast lint format lock screenshots clean

# uv itself, pinned with its hashes (tools/uv-requirements.txt), in a venv of its own.
$(UV): tools/uv-requirements.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "optibridge needs Python >= 3.11 (set PYTHON=...)")'
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes -r tools/uv-requirements.txt
	@touch $(UV)

## Everything, as locked: the service and the development tools (tests, lint, browser driver).
## --locked refuses a uv.lock that no longer matches pyproject.toml (run `make lock`).
install: $(UV)
	$(UV) sync --locked

## Only what the service needs to run; leaves development tools already installed in place.
install-runtime: $(UV)
	$(UV) sync --locked --no-dev --inexact

## The demo: service + both sandboxes, site 10000 ready (SPEC 5.1).
run: install-runtime
	$(BIN)/optibridge demo --host $(HOST) --port $(PORT) --data-dir $(DATA_DIR)

lint: install
	@$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/mypy

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## Everything CI runs. Lint and tests both run, whatever the other's result, and both results
## are printed last; the target fails if either failed.
test: install
	@lint=0; $(MAKE) --no-print-directory lint || lint=$$?; \
	tests=0; $(BIN)/pytest --durations=15 || tests=$$?; \
	echo; echo "== lint:  $$([ $$lint = 0 ] && echo passed || echo FAILED)"; \
	echo "== tests: $$([ $$tests = 0 ] && echo passed || echo FAILED)"; \
	[ $$lint = 0 ] && [ $$tests = 0 ]

## Skips the groups marked slow (multi-process and long-running tests).
test-fast: install
	$(BIN)/pytest -m "not slow"

## The one way dependencies change: every package to its newest allowed release, then the suite.
lock: $(UV)
	$(UV) lock --upgrade
	$(MAKE) --no-print-directory test
	@echo "uv.lock refreshed and the suite passed against it: review 'git diff uv.lock' and commit it."

## The screenshots in docs/ are taken by the browser tests, only when asked.
screenshots: install
	OPTIBRIDGE_SCREENSHOTS_DIR=docs/screenshots $(BIN)/pytest -m browser tests/e2e

clean:
	rm -rf $(VENV) $(TOOLS) var .pytest_cache .mypy_cache .ruff_cache .hypothesis
