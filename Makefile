# The two commands a newcomer runs: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
CONSTRAINTS := constraints/test.txt
# Cells of the test matrix (constraints/matrix.toml) that run at once; CELLS=a,b picks some.
MATRIX_JOBS ?= 2

.PHONY: help install system-deps test lint typecheck pytest matrix matrix-upstream constraints demo bench soak docs dist clean

help:
	@echo "make demo   - run the sample fleet with real Prometheus and Alertmanager, under load"
	@echo "make test   - install everything needed, then lint, type-check and run the test matrix"
	@echo "              (every supported Django and Python pair; see docs/compatibility.md)"
	@echo "make bench  - measure per-request overhead against the stack this replaces"
	@echo "make soak   - run the fleet under steady load and check for resource growth"
	@echo "make docs   - regenerate every generated file (fleetobs generate)"

# The main virtualenv is the matrix cell that also runs lint and the type check; it is built from
# the same constraints as every other cell, with the Django release that cell names.
$(INSTALLED): pyproject.toml $(CONSTRAINTS) constraints/matrix.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip setuptools wheel
	$(BIN)/python -m pip install -q -c $(CONSTRAINTS) -e ".[dev,bench]" "$$($(PYTHON) scripts/matrix.py requirement main)"
	# gunicorn 23 runs child_exit inside its SIGCHLD handler: the hook tests run it beside the newest.
	rm -rf .compat/gunicorn23
	$(BIN)/python -m pip install -q --no-deps --target .compat/gunicorn23 "gunicorn==23.0.0"
	# The benchmark's anchor stack as its users configure it for queries (make bench, tests/bench):
	# OpenTelemetry's sqlite3 instrumentation, whose newest release trails the rest of contrib by a
	# patch, so it is installed without letting it move the pinned OpenTelemetry packages.
	$(BIN)/python -m pip install -q --no-deps "opentelemetry-instrumentation-dbapi==0.66b1" "opentelemetry-instrumentation-sqlite3==0.66b1"
	touch $@

install: $(INSTALLED)

system-deps:
	./scripts/system-deps.sh

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(INSTALLED)
	$(BIN)/mypy

pytest: $(INSTALLED) system-deps
	$(BIN)/pytest

# Every cell of constraints/matrix.toml, MATRIX_JOBS at a time, each in its own virtualenv under
# .matrix/ (the main one is .venv): the in-process suite everywhere, the whole suite in .venv, the
# gunicorn, Celery and Prometheus suites and the installed wheel on the newest Django and Python.
# Interpreters come from pyenv; PYTHON312=/path/to/python3.12 (and so on) overrides.
matrix: $(INSTALLED) system-deps
	$(PYTHON) scripts/matrix.py run --jobs $(MATRIX_JOBS)

# The same against the newest releases of Django, OpenTelemetry, prometheus_client, structlog
# and the Elasticsearch client (the weekly upstream workflow).
matrix-upstream: $(INSTALLED) system-deps
	$(PYTHON) scripts/matrix.py run --jobs $(MATRIX_JOBS) --upstream

# Rewrites constraints/test.txt from the main virtualenv; UPGRADE=1 upgrades everything first.
constraints: $(INSTALLED)
	$(PYTHON) scripts/matrix.py freeze $(if $(UPGRADE),--upgrade)

# The sdist and the wheel users install (the wheel built from the sdist), checked as an index would.
dist: $(INSTALLED)
	rm -rf dist
	$(BIN)/python -m build --no-isolation --outdir dist .
	$(BIN)/twine check --strict dist/*

test: install system-deps lint typecheck dist matrix

demo: $(INSTALLED) system-deps
	$(BIN)/fleetobs demo

bench: $(INSTALLED) system-deps
	$(BIN)/python -m benchmarks

soak: $(INSTALLED) system-deps
	$(BIN)/python -m tests.reliability.soak --minutes $${SOAK_MINUTES:-10}

# Every generated file (docs pages, compose and Kubernetes copies, promtool cases); the test suite
# runs `fleetobs generate --check` and fails when one is stale.
docs: $(INSTALLED)
	$(BIN)/fleetobs generate

clean:
	rm -rf .demo .bench .matrix .compat build *.egg-info .pytest_cache .mypy_cache .ruff_cache
