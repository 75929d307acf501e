"""Fixtures for the dashboard tests: the generated dashboards and provisioning, built once."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from dashboards import generate, provisioning


@pytest.fixture(scope="session")
def _generated() -> dict[str, dict[str, Any]]:
    return generate.dashboards()


@pytest.fixture
def generated(_generated: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """File name -> dashboard JSON (a copy each test may modify)."""
    return copy.deepcopy(_generated)


@pytest.fixture(scope="session")
def provisioning_files() -> dict[str, str]:
    return provisioning.files()
