"""Fixtures for metrics integration tests: a migrated, seeded sample-shop database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def manage(args: list[str], env: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, "-m", "sample_app", *args], env=env, check=True, capture_output=True, timeout=120
    )


@pytest.fixture(scope="module")
def shop_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment for a sample-shop process backed by a fresh, seeded SQLite file."""
    workdir = tmp_path_factory.mktemp("shop")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "sample_app.settings",
        "SHOP_SQLITE_PATH": str(workdir / "shop.sqlite3"),
        "SHOP_FAULTS_FILE": str(workdir / "faults.json"),
        "FLEETOBS_LOG_LEVEL": "WARNING",
        "OTEL_SDK_DISABLED": "true",
    }
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    manage(["migrate", "--noinput"], env)
    manage(["seed"], env)
    return {k: v for k, v in env.items() if k != "DJANGO_SETTINGS_MODULE"} | {
        "DJANGO_SETTINGS_MODULE": "sample_app.settings"
    }


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path
