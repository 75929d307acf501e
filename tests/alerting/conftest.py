"""Fixtures for the alerting tests: the compose SLO spec, generated rules, and the tool binaries."""

from __future__ import annotations

from pathlib import Path

import pytest

from alerting import api
from alerting.context import Context
from alerting.slo import Spec, load_spec
from tests.support.fixtures import fleet_factory  # noqa: F401 - the end-to-end tests' fleet
from tests.support.procs import require_binary

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_SPEC = ROOT / "compose" / "prometheus" / "slo.yaml"
COMPOSE_RULES = ROOT / "compose" / "prometheus" / "rules"
COMPOSE_ALERTMANAGER = ROOT / "compose" / "alertmanager" / "alertmanager.yml"
UNIT_TESTS = Path(__file__).resolve().parent / "promtool"
RUNBOOKS = ROOT / "docs" / "runbooks"


@pytest.fixture(scope="session")
def compose_spec() -> Spec:
    return load_spec(COMPOSE_SPEC)


@pytest.fixture(scope="session")
def compose_ctx(compose_spec: Spec) -> Context:
    return api.build_context(compose_spec)


@pytest.fixture(scope="session")
def promtool() -> str:
    return require_binary("promtool")


@pytest.fixture(scope="session")
def amtool() -> str:
    return require_binary("amtool")
