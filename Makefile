# The front door. Every target builds or refreshes .venv from pyproject.toml on its own.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
WORKERS ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: all serve events test test-postgres test-all check fuzz lint fmt spec bench bench-scale bench-backends bench-tenants wrk chromium clean

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

# The fast tier: every protocol behaviour, in-process, under 30 s, spread over one pytest-xdist
# worker per core (TEST_WORKERS).
TEST_WORKERS ?= auto
test: $(STAMP)
	@if command -v chromium >/dev/null; then state="Chromium is installed"; \
	else state="Chromium is not installed: make chromium"; fi; \
	echo "make test: the fast tier; the console's browser test runs in make test-all ($$state)"
	$(BIN)/pytest -m "not slow and not postgres" -n $(TEST_WORKERS) $(PYTEST_ARGS)

# The HTTP suite again on PostgreSQL (SCIM_TEST_POSTGRES, default the local server): each test
# process creates a database of its own and drops it after; skips where no server answers.
test-postgres: $(STAMP)
	$(BIN)/pytest -m "postgres and not slow" -n $(TEST_WORKERS) $(PYTEST_ARGS)

# Everything: the fast tier, the PostgreSQL half (marked postgres) and the tests that start
# servers or fuzz (marked slow), with the property tests at their thorough example counts. CI
# runs this.
test-all: $(STAMP) wrk chromium
	HYPOTHESIS_PROFILE=thorough $(BIN)/pytest $(PYTEST_ARGS)

# What CI runs: lint, a short fuzz of the real server, every test.
check: lint
	FUZZ_EXAMPLES=25 $(MAKE) fuzz
	FUZZ_EXAMPLES=10 FUZZ_TENANT=acme $(MAKE) fuzz
	$(MAKE) test-all

# The load generator of `make bench`, also used by the bench smoke test (Debian's wrk). Where it
# cannot be installed (no apt, not root), the tests say so and skip that one test.
wrk:
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk >/dev/null) \
		|| echo "wrk could not be installed: tests/test_bench.py will be skipped"

# The browser of the console's browser test (Debian's chromium, driven by Playwright; its own
# browser downloads are not used). Where it cannot be installed, that test says so and skips.
chromium:
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) \
		|| echo "Chromium could not be installed: tests/test_console_browser.py will be skipped"

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

# The hot scenarios on SQLite and, in the same run, on a PostgreSQL database seeded alike
# (BENCH_POSTGRES, default the local server; a new database, dropped after).
bench-backends: $(STAMP) wrk
	$(BIN)/python bench/run.py --scenarios \
		lookup,lookup+postgres,get,get+postgres,page,page+postgres,deactivate,deactivate+postgres,member_add,member_add+postgres

# A lookup in one tenant of 100 tenants x 1,000 users beside a default tenant of 100,000 users.
bench-tenants: $(STAMP) wrk
	BENCH_USERS=$${BENCH_USERS:-100000} BENCH_MEMBERS=$${BENCH_MEMBERS:-1000} \
	BENCH_TENANTS=$${BENCH_TENANTS:-100:1000} $(BIN)/python bench/run.py --scenarios lookup,tenant_lookup

# With SCIM_SCHEMAS_DIR set, dist/ holds the spec a server with that setting serves.
spec: $(STAMP)
	$(BIN)/openapi-spec-validator openapi/scim.yaml
	$(BIN)/python scripts/build_spec.py
	$(BIN)/openapi-spec-validator dist/scim.yaml

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
