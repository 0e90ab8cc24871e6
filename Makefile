# The front door. Every target builds or refreshes .venv from pyproject.toml on its own.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
WORKERS ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: all serve events test test-all check fuzz lint fmt spec bench bench-scale wrk clean

all: lint test

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet '.[dev]'
	touch $(STAMP)

serve: $(STAMP)
	HOST=$(HOST) PORT=$(PORT) WORKERS=$(WORKERS) $(BIN)/python -m app.serve

# The server's security events as they come, one line each (SCIM_EVENTS_URL, SCIM_EVENTS_TOKEN).
events: $(STAMP)
	$(BIN)/python -m app.events tail

# The fast tier: every protocol behaviour, in-process, under 30 s.
test: $(STAMP)
	$(BIN)/pytest -m "not slow" $(PYTEST_ARGS)

# Everything: the fast tier plus the tests that start servers or fuzz (marked slow), with the
# property tests at their thorough example counts. CI runs this.
test-all: $(STAMP) wrk
	HYPOTHESIS_PROFILE=thorough $(BIN)/pytest $(PYTEST_ARGS)

# What CI runs: lint, a short fuzz of the real server, every test.
check: lint
	FUZZ_EXAMPLES=25 $(MAKE) fuzz
	$(MAKE) test-all

# The load generator of `make bench`, also used by the bench smoke test (Debian's wrk). Where it
# cannot be installed (no apt, not root), the tests say so and skip that one test.
wrk:
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk >/dev/null) \
		|| echo "wrk could not be installed: tests/test_bench.py will be skipped"

lint: $(STAMP)
	$(BIN)/openapi-spec-validator openapi/scim.yaml
	$(BIN)/ruff check app tests bench
	$(BIN)/ruff format --check app tests bench
	$(BIN)/mypy

fmt: $(STAMP)
	$(BIN)/ruff format app tests bench
	$(BIN)/ruff check --fix app tests bench

fuzz: $(STAMP)
	bash scripts/fuzz.sh

bench: $(STAMP) wrk
	$(BIN)/python bench/run.py

bench-scale: $(STAMP) wrk
	$(BIN)/python bench/run.py --scale

spec: $(STAMP)
	$(BIN)/openapi-spec-validator openapi/scim.yaml
	$(BIN)/python scripts/build_spec.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
