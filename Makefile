# The two commands a newcomer runs: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: help install system-deps test lint typecheck pytest compat demo bench soak docs clean

help:
	@echo "make demo   - run the sample fleet with real Prometheus and Alertmanager, under load"
	@echo "make test   - install everything needed, then lint, type-check and run the whole suite"
	@echo "make bench  - measure per-request overhead against the stack this replaces"
	@echo "make soak   - run the fleet under steady load and check for resource growth"
	@echo "make docs   - regenerate the generated documentation and assets"

$(INSTALLED): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip setuptools wheel
	$(BIN)/python -m pip install -q -e ".[dev,bench]"
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

# The oldest supported Django (4.2 LTS) runs the in-process suite too; the newest release that
# supports this Python is the one installed in the virtualenv.
COMPAT := .compat/django42
$(COMPAT)/.installed: $(INSTALLED)
	rm -rf $(COMPAT)
	$(BIN)/python -m pip install -q --no-deps --target $(COMPAT) "Django>=4.2,<5.0"
	touch $@

compat: $(COMPAT)/.installed
	PYTHONPATH=$(COMPAT) $(BIN)/python -c 'import django, sys; sys.exit(django.VERSION[:2] != (4, 2))'
	PYTHONPATH=$(COMPAT) $(BIN)/pytest -q -p no:cacheprovider -m "not integration" tests/unit tests/metrics

test: install system-deps lint typecheck pytest compat

demo: $(INSTALLED) system-deps
	$(BIN)/fleetobs demo

bench: $(INSTALLED) system-deps
	$(BIN)/python -m benchmarks

soak: $(INSTALLED) system-deps
	$(BIN)/python -m tests.reliability.soak --minutes $${SOAK_MINUTES:-10}

docs: $(INSTALLED)
	$(BIN)/fleetobs docs generate
	$(BIN)/fleetobs dashboards generate --out compose/grafana/dashboards --provisioning compose/grafana/provisioning
	$(BIN)/fleetobs alerts generate --out compose --layout compose --slo compose/prometheus/slo.yaml
	$(BIN)/python deploy/kubernetes/sync_generated.py

clean:
	rm -rf .demo .bench .compat build *.egg-info .pytest_cache .mypy_cache .ruff_cache
