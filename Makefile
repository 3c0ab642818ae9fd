# The whole set-up for a newcomer: `make demo` and `make test`. Each creates .venv if missing.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck pytest bench docs clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev,local,parquet]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/picops demo

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest -q

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
	rm -rf $(VENV) .picops .mypy_cache .pytest_cache .ruff_cache
