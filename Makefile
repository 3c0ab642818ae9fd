# The whole set-up for a newcomer: `make demo` and `make test`. Each creates .venv if missing.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# checkov pins its own versions of boto3, pydantic and friends: it lives in a virtualenv of its own so the
# project's dependencies stay the ones pyproject.toml resolves (tests/unit/test_security_export.py runs it).
CHECKOV_VENV := .venv-checkov
CHECKOV := $(CHECKOV_VENV)/bin/checkov
CHECKOV_VERSION := 3.3.30

.PHONY: demo test lint typecheck pytest bench docs clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev,local,parquet]'
	touch $(STAMP)

$(CHECKOV):
	$(PYTHON) -m venv $(CHECKOV_VENV) || python3 -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet 'checkov==$(CHECKOV_VERSION)'

demo: $(STAMP)
	$(BIN)/picops demo

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP) $(CHECKOV)
	CHECKOV=$(CURDIR)/$(CHECKOV) $(BIN)/pytest -q

test: lint pytest

bench: $(STAMP)
	$(BIN)/python -m bench --smoke

# docs/cli.md is generated from the Typer app (tests/unit/test_cli_docs.py fails when it is stale).
docs: $(STAMP)
	$(BIN)/python -m picops.cli.docs docs/cli.md

# .picops/ is the local state (endpoint record, runtime logs, checkpoints): `local down --purge` stops the
# endpoint before its record goes; without a venv there is nothing that could still be running from it.
clean:
	-if [ -x $(BIN)/picops ]; then $(BIN)/picops local down --purge; fi
	rm -rf $(VENV) $(CHECKOV_VENV) .picops .mypy_cache .pytest_cache .ruff_cache
