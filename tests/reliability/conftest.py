"""Fixtures of the reliability suite: one seeded shop database per session, copied per test.

Services this suite stops and restarts (PostgreSQL, Redis) are always started again in a
``finally`` block, and the tests fail rather than skip under ``CI=true`` when one is missing.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.reliability.harness import copy_database, make_shop_database


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def unavailable(reason: str) -> None:
    """Skip the test, or fail it under CI (where every service must be present)."""
    if in_ci():
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def shop_database_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated, seeded SQLite shop, made once per session (copy it before use)."""
    return make_shop_database(tmp_path_factory.mktemp("shop-template"))


@pytest.fixture(scope="module")
def shop_database(shop_database_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of the seeded shop for one test module."""
    return copy_database(shop_database_template, tmp_path_factory.mktemp("shop"))


@pytest.fixture
def private_database(shop_database_template: Path, tmp_path: Path) -> Path:
    return copy_database(shop_database_template, tmp_path / "db")
