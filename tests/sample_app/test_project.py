"""The sample project as a Django project: deploy checks in production mode, committed
migrations, the idempotent seed command, both ways of running management commands, and the ASGI
entry point."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sample_app.processes import HttpServerProcess
from sample_app.shop import faults

PRODUCTION_ENV = {
    "SHOP_PRODUCTION": "1",
    "DJANGO_SECRET_KEY": "a-long-random-production-secret-key-0123456789-abcdefghijklmnop-XYZ",
    "SHOP_ALLOWED_HOSTS": "shop.example.com",
}


def run(args: list[str], tmp_path: Path, repo_root: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "sample_app.settings",
        "SHOP_SQLITE_PATH": str(tmp_path / "shop.sqlite3"),
        "DATABASE_URL": "",
        "REDIS_URL": "",
        **env,
    }
    return subprocess.run(
        args, cwd=repo_root, env=full_env, capture_output=True, text=True, timeout=120, check=False
    )


def manage(*args: str, tmp_path: Path, repo_root: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return run([sys.executable, "-m", "sample_app", *args], tmp_path, repo_root, **env)


def test_deploy_check_is_clean_in_production_mode(tmp_path: Path, repo_root: Path) -> None:
    result = manage("check", "--deploy", "--fail-level", "WARNING", tmp_path=tmp_path, repo_root=repo_root,
                    **PRODUCTION_ENV)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_deploy_check_flags_development_settings(tmp_path: Path, repo_root: Path) -> None:
    # The same check without SHOP_PRODUCTION finds the missing hardening: it is really checking.
    result = manage("check", "--deploy", "--fail-level", "WARNING", tmp_path=tmp_path, repo_root=repo_root)
    assert result.returncode != 0
    assert "security.W004" in result.stderr  # no HSTS
    assert "security.W012" in result.stderr  # session cookie not secure


def test_production_mode_requires_a_secret_key(tmp_path: Path, repo_root: Path) -> None:
    result = manage(
        "check", tmp_path=tmp_path, repo_root=repo_root, SHOP_PRODUCTION="1", DJANGO_SECRET_KEY=""
    )
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr


def test_migrations_are_committed(tmp_path: Path, repo_root: Path) -> None:
    result = manage("makemigrations", "--check", "--dry-run", tmp_path=tmp_path, repo_root=repo_root)
    assert result.returncode == 0, result.stdout + result.stderr


def test_seed_is_idempotent(tmp_path: Path, repo_root: Path) -> None:
    assert manage("migrate", "--noinput", tmp_path=tmp_path, repo_root=repo_root).returncode == 0
    first = manage("seed", tmp_path=tmp_path, repo_root=repo_root)
    assert first.returncode == 0, first.stderr
    assert "200 new products" in first.stdout
    assert "demo user created" in first.stdout
    second = manage("seed", tmp_path=tmp_path, repo_root=repo_root)
    assert second.returncode == 0, second.stderr
    assert "0 new products, 0 new reviews, demo user present" in second.stdout


@pytest.mark.parametrize("entry", [["sample_app/manage.py"], ["-m", "sample_app"]])
def test_management_entry_points(tmp_path: Path, repo_root: Path, entry: list[str]) -> None:
    result = run([sys.executable, *entry, "check"], tmp_path, repo_root, PYTHONPATH="")
    assert result.returncode == 0, result.stdout + result.stderr


class Uvicorn(HttpServerProcess):
    """The ASGI entry point under uvicorn."""

    name = "uvicorn"
    ready_path = "/healthz"

    def command(self) -> list[str]:
        return [sys.executable, "-m", "uvicorn", "sample_app.asgi:application", "--port", str(self.port),
                "--host", "127.0.0.1", "--log-level", "warning"]  # fmt: skip


def test_asgi_entry_point_serves_the_shop(tmp_path: Path, repo_root: Path) -> None:
    env = {
        "DJANGO_SETTINGS_MODULE": "sample_app.settings",
        "SHOP_SQLITE_PATH": str(tmp_path / "shop.sqlite3"),
        "SHOP_FAULTS_FILE": str(tmp_path / "faults.json"),
        "DATABASE_URL": "",
        "REDIS_URL": "",
    }
    assert manage("migrate", "--noinput", tmp_path=tmp_path, repo_root=repo_root).returncode == 0
    assert manage("seed", tmp_path=tmp_path, repo_root=repo_root).returncode == 0
    with Uvicorn(env=env, cwd=repo_root, workdir=tmp_path / "uvicorn") as server:
        products = server.get("/shop/products/?size=3")
        assert products.status == 200
        assert len(products.json()["products"]) == 3
        assert server.get("/shop/products/n-plus-one/?size=3").status == 200
        faults.write(faults.Faults(error_rate=1.0), tmp_path / "faults.json")
        assert server.get("/shop/products/").status == 500
        assert server.get("/healthz").status == 200
