"""The fault-injection switch as a library: validation, atomic writes, change detection, the
middleware (sync and async) that acts on it, and the management command that flips it. The
middleware needs no sample-app settings, so it runs in-process under the suite's settings."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from asgiref.sync import iscoroutinefunction
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory

from sample_app.shop import faults


@pytest.fixture
def switch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "faults.json"
    monkeypatch.setenv(faults.ENV_FILE, str(path))
    monkeypatch.delenv(faults.ENV_FAILURE_RATE, raising=False)
    faults.reset()
    return path


def test_no_file_means_no_faults(switch: Path) -> None:
    assert not switch.exists()
    assert faults.current() == faults.NO_FAULTS
    assert faults.current().effective_failure_rate() == faults.DEFAULT_FAILURE_RATE


def test_unset_environment_means_no_faults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(faults.ENV_FILE, raising=False)
    assert faults.faults_path() is None
    assert faults.current() is faults.NO_FAULTS
    with pytest.raises(ValueError, match=faults.ENV_FILE):
        faults.write(faults.Faults(error_rate=0.5))


def test_write_then_read_round_trips(switch: Path) -> None:
    faults.write(faults.Faults(error_rate=0.5, latency_seconds=1.5, latency_rate=0.2, failure_rate=0.9))
    assert json.loads(switch.read_text()) == {
        "error_rate": 0.5,
        "failure_rate": 0.9,
        "latency_rate": 0.2,
        "latency_seconds": 1.5,
    }
    assert faults.current() == faults.Faults(0.5, 1.5, 0.2, 0.9)
    assert list(switch.parent.iterdir()) == [switch]  # no temporary file left behind


def test_changes_are_seen_without_restart(switch: Path) -> None:
    faults.write(faults.Faults(error_rate=0.1))
    assert faults.current().error_rate == 0.1
    faults.update(error_rate=0.7)
    assert faults.current().error_rate == 0.7
    assert faults.clear() == faults.NO_FAULTS
    assert faults.current() == faults.NO_FAULTS


def test_update_keeps_other_settings(switch: Path) -> None:
    faults.write(faults.Faults(latency_seconds=2.0))
    faults.update(error_rate=0.3)
    assert faults.current() == faults.Faults(error_rate=0.3, latency_seconds=2.0)


@pytest.mark.parametrize(
    "content", ["not json", "[1, 2]", '{"error_rate": 7}', '{"unknown": 1}', '{"error_rate": "x"}']
)
def test_broken_file_means_no_faults(switch: Path, content: str) -> None:
    switch.write_text(content)
    assert faults.current() == faults.NO_FAULTS


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"error_rate": -0.1}, "error_rate"),
        ({"error_rate": 1.5}, "error_rate"),
        ({"latency_rate": 2}, "latency_rate"),
        ({"failure_rate": -1}, "failure_rate"),
        ({"latency_seconds": -1}, "latency_seconds"),
        ({"latency_seconds": 3600}, "latency_seconds"),
    ],
)
def test_invalid_values_are_refused(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        faults.Faults(**kwargs)


def test_unknown_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown fault settings"):
        faults.Faults.from_dict({"error_rate": 0.1, "eror_rate": 0.2})


def test_failure_rate_falls_back_to_environment(switch: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(faults.ENV_FAILURE_RATE, "0.25")
    assert faults.current().effective_failure_rate() == 0.25
    faults.write(faults.Faults(failure_rate=0.75))
    assert faults.current().effective_failure_rate() == 0.75


def _manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sample_app", *args],
        cwd=Path(__file__).resolve().parents[2],
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "sample_app.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_management_command_flips_the_switch(tmp_path: Path) -> None:
    path = tmp_path / "switch.json"
    env = {"SHOP_FAULTS_FILE": str(path), "SHOP_SQLITE_PATH": str(tmp_path / "db.sqlite3")}
    result = _manage("faults", "--error-rate", "0.4", "--latency", "1", env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(path.read_text())["error_rate"] == 0.4
    assert json.loads(path.read_text())["latency_seconds"] == 1.0
    result = _manage("faults", "--error-rate", "3", env=env)
    assert result.returncode != 0
    assert "between 0 and 1" in result.stderr
    result = _manage("faults", "--clear", env=env)
    assert result.returncode == 0
    assert json.loads(path.read_text())["error_rate"] == 0.0


def _ok(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok")


async def _async_ok(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok")


@pytest.mark.parametrize("path", ["/shop/products/", "/shop/flaky/"])
def test_middleware_fails_shop_requests_during_an_error_burst(
    switch: Path, rf: RequestFactory, path: str
) -> None:
    middleware = faults.fault_injection_middleware(_ok)
    assert middleware(rf.get(path)).status_code == 200
    faults.write(faults.Faults(error_rate=1.0))
    with pytest.raises(faults.InjectedFaultError):
        middleware(rf.get(path))


@pytest.mark.parametrize("path", ["/", "/healthz", "/metrics", "/faults/", "/accounts/login/"])
def test_middleware_never_touches_other_routes(switch: Path, rf: RequestFactory, path: str) -> None:
    faults.write(faults.Faults(error_rate=1.0, latency_seconds=5))
    started = time.monotonic()
    assert faults.fault_injection_middleware(_ok)(rf.get(path)).status_code == 200
    assert time.monotonic() - started < 1


def test_middleware_delays_shop_requests_during_a_latency_spike(switch: Path, rf: RequestFactory) -> None:
    faults.write(faults.Faults(latency_seconds=0.2, latency_rate=1.0))
    started = time.monotonic()
    assert faults.fault_injection_middleware(_ok)(rf.get("/shop/products/")).status_code == 200
    assert time.monotonic() - started >= 0.2


def test_async_middleware_injects_the_same_faults(switch: Path, rf: RequestFactory) -> None:
    middleware = faults.fault_injection_middleware(_async_ok)
    assert iscoroutinefunction(middleware)
    faults.write(faults.Faults(latency_seconds=0.2, latency_rate=1.0))
    started = time.monotonic()
    assert asyncio.run(middleware(rf.get("/shop/products/"))).status_code == 200
    assert time.monotonic() - started >= 0.2
    faults.write(faults.Faults(error_rate=1.0))
    with pytest.raises(faults.InjectedFaultError):
        asyncio.run(middleware(rf.get("/shop/products/")))
