# The front door. Every target builds or refreshes .venv from pyproject.toml on its own.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
WORKERS ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: all serve test fuzz lint fmt spec clean

all: lint test

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet '.[dev]'
	touch $(STAMP)

serve: $(STAMP)
	HOST=$(HOST) PORT=$(PORT) WORKERS=$(WORKERS) $(BIN)/python -m app.serve

test: $(STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/openapi-spec-validator openapi/scim.yaml
	$(BIN)/ruff check app tests
	$(BIN)/ruff format --check app tests
	$(BIN)/mypy

fmt: $(STAMP)
	$(BIN)/ruff format app tests
	$(BIN)/ruff check --fix app tests

fuzz: $(STAMP)
	bash scripts/fuzz.sh

spec: $(STAMP)
	$(BIN)/openapi-spec-validator openapi/scim.yaml
	$(BIN)/python scripts/build_spec.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
