"""The distribution users get: what the sdist and wheel hold, ``twine check``, and the wheel at work.

The sdist and wheel are built once per module with ``python -m build`` (the wheel from the sdist,
as an index would). The wheel's file list is pinned by its top-level names and the data files
the commands need, not file by file. The integration test installs the wheel (not editable) into
a fresh virtualenv, creates a project with ``django-admin startproject`` outside the checkout,
follows the README's three steps, serves it under gunicorn and reads ``/metrics``, and runs every
``fleetobs`` command from that virtualenv. scripts/wheel_check.py (the matrix's wheel suite)
checks exact counts over several workers on the newest Django and Python; its helpers are reused.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from email.parser import Parser as EmailParser
from pathlib import Path

import pytest

import fleetobs
import instrumentation
from scripts import wheel_check

ROOT = Path(__file__).resolve().parents[2]
TOP_LEVEL = {
    "alerting",
    "dashboards",
    "doctor",
    "fleetobs.py",
    "fleetobs_cli",
    "instrumentation",
    "sample_app",
    f"django_fleet_observability-{instrumentation.__version__}.dist-info",
}
PACKAGES = ("alerting", "dashboards", "doctor", "fleetobs_cli", "instrumentation", "sample_app")
#: Typed packages (PEP 561 marker) and the data files commands and the demo read at run time.
KEY_FILES = {
    "instrumentation/py.typed",
    "dashboards/py.typed",
    "alerting/py.typed",
    "doctor/py.typed",
    "fleetobs_cli/py.typed",
    "instrumentation/urls.py",
    "instrumentation/gunicorn.py",
    "instrumentation/management/__init__.py",
    "instrumentation/management/commands/__init__.py",
    "instrumentation/management/commands/fleetobs.py",
    "sample_app/shop/templates/shop/base.html",
    "sample_app/gunicorn.conf.py",
    f"django_fleet_observability-{instrumentation.__version__}.dist-info/licenses/LICENSE",
}


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    result = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def wheel(dist: Path) -> Path:
    (path,) = dist.glob("django_fleet_observability-*-py3-none-any.whl")
    return path


def test_twine_check_passes(dist: Path) -> None:
    files = sorted(str(p) for p in dist.iterdir())
    assert len(files) == 2, files  # the sdist and the wheel
    result = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", *files],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_wheel_ships_what_users_import_and_the_data_commands_need(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert {name.split("/")[0] for name in names} == TOP_LEVEL
    assert set(names) >= KEY_FILES, KEY_FILES - set(names)
    assert not [n for n in names if "__pycache__" in n or n.endswith((".pyc", ".orig", ".rej"))]
    assert not [n for n in names if n.startswith(("tests/", "compose/", "deploy/", "benchmarks/"))]
    # Every file the packages keep next to their modules ships (templates, markers).
    tracked = subprocess.run(
        ["git", "ls-files", *PACKAGES],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert {t for t in tracked if not t.endswith(".py")} <= set(names)


def test_the_metadata_says_what_users_need(wheel: Path) -> None:
    archive = zipfile.ZipFile(wheel)
    info = f"django_fleet_observability-{instrumentation.__version__}.dist-info"
    metadata = EmailParser().parsestr(archive.read(f"{info}/METADATA").decode())
    assert metadata["Version"] == instrumentation.__version__
    assert metadata["License-Expression"] == "Apache-2.0"
    urls = dict(u.split(", ", 1) for u in metadata.get_all("Project-URL") or [])
    assert {"Homepage", "Source", "Issues", "Changelog", "Documentation"} <= set(urls)
    requires = metadata.get_all("Requires-Dist") or []
    assert any(re.match(r"prometheus-client.*<", r) for r in requires), requires
    entry_points = archive.read(f"{info}/entry_points.txt").decode()
    assert "fleetobs = fleetobs:main" in entry_points
    assert fleetobs.version() == instrumentation.__version__


# --- the wheel at work ------------------------------------------------------------------------


def _commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield path
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _commands(sub, (*path, name))


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv holding the wheel (not editable), gunicorn and grafanalib."""
    path = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True, timeout=300)
    constraints = ROOT / "constraints" / "test.txt"
    result = subprocess.run(
        [
            str(path / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "-q",
            "-c",
            str(constraints),
            f"{wheel}[dashboards]",
            "gunicorn",
        ],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return path


def _clean_env(venv: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"PYTHONPATH", "VIRTUAL_ENV", "DJANGO_SETTINGS_MODULE"}
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return env


@pytest.mark.integration
@pytest.mark.slow
def test_every_command_runs_from_the_installed_wheel_outside_the_checkout(venv: Path, tmp_path: Path) -> None:
    env = _clean_env(venv)
    fleetobs_bin = str(venv / "bin" / "fleetobs")

    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [fleetobs_bin, *argv],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    located = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import fleetobs, instrumentation; print(instrumentation.__file__)",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert located.startswith(str(venv)), located
    for path in _commands(fleetobs.build_parser()):
        result = run(*path, "--help")
        assert result.returncode == 0, (path, result.stderr)
        assert "example:" in result.stdout, path

    alerts = tmp_path / "alerts"
    assert run("alerts", "generate", "--out", str(alerts)).returncode == 0
    assert sorted(p.name for p in (alerts / "rules").iterdir()) == [
        "fleetobs-alerts.yml",
        "fleetobs-recording.yml",
        "fleetobs-slo.yml",
    ]
    dashboards = run("dashboards", "generate", "--out", str(tmp_path / "dashboards"))
    assert dashboards.returncode == 0, dashboards.stderr
    assert len(list((tmp_path / "dashboards").glob("*.json"))) >= 5
    assert run("elasticsearch", "assets", "--out", str(tmp_path / "es")).returncode == 0
    assert run("docs", "generate", "--out", str(tmp_path / "docs")).returncode == 0
    assert (tmp_path / "docs" / "metrics.md").is_file()
    # The repository's generated files are a checkout's: from the wheel, one line and exit 2.
    outside = run("generate", "--check")
    assert outside.returncode == 2, outside.stdout + outside.stderr
    assert outside.stderr.count("\n") == 1
    assert "is not a Fleet Observability checkout" in outside.stderr
    tools = all(shutil.which(tool, path=env["PATH"]) for tool in ("promtool", "amtool"))
    if tools or os.environ.get("CI") == "true":  # in CI a missing tool fails the test
        # The defaults come from the package, not from a checkout: a fresh generation is checked.
        tested = run("alerts", "test")
        assert tested.returncode == 0, tested.stdout + tested.stderr
    unreachable = run(
        "doctor", "--prometheus", f"http://127.0.0.1:{wheel_check.free_port()}", "--timeout", "5"
    )
    assert unreachable.returncode == 2  # its documented "cannot check"
    assert "Traceback" not in unreachable.stdout + unreachable.stderr


@pytest.mark.integration
@pytest.mark.slow
def test_a_startproject_following_the_readme_serves_metrics_under_gunicorn(
    venv: Path, tmp_path: Path
) -> None:
    env = _clean_env(venv)
    subprocess.run(
        [str(venv / "bin" / "django-admin"), "startproject", "mysite", str(tmp_path)],
        env=env,
        check=True,
        timeout=120,
    )
    settings = tmp_path / "mysite" / "settings.py"
    text = settings.read_text()
    # The README's step 2: the app, the middleware first, and (optionally) a service name.
    text = text.replace("INSTALLED_APPS = [", 'INSTALLED_APPS = [\n    "instrumentation",', 1)
    text = text.replace(
        "MIDDLEWARE = [", 'MIDDLEWARE = [\n    "instrumentation.middleware.ObservabilityMiddleware",', 1
    )
    text += '\nFLEET_OBSERVABILITY = {"SERVICE_NAME": "mysite", "TRACING_ENABLED": False}\n'
    text += 'ALLOWED_HOSTS = ["127.0.0.1"]\nDEBUG = False\n'
    settings.write_text(text)
    urls = tmp_path / "mysite" / "urls.py"
    text = urls.read_text().replace("from django.urls import path", "from django.urls import include, path")
    text = text.replace(
        "urlpatterns = [", 'urlpatterns = [\n    path("", include("instrumentation.urls")),', 1
    )
    urls.write_text(text)
    env["DJANGO_SETTINGS_MODULE"] = "mysite.settings"
    python = str(venv / "bin" / "python")
    subprocess.run([python, "manage.py", "check"], cwd=tmp_path, env=env, check=True, timeout=120)
    # The service's own settings, through the management command the wheel ships.
    report = subprocess.run(
        [python, "manage.py", "fleetobs", "settings", "--json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert json.loads(report.stdout)["settings"]["SERVICE_NAME"] == {
        "value": "mysite",
        "source": "FLEET_OBSERVABILITY",
    }
    subprocess.run([python, "manage.py", "fleetobs", "check"], cwd=tmp_path, env=env, check=True, timeout=120)
    subprocess.run([python, "manage.py", "migrate", "-v0"], cwd=tmp_path, env=env, check=True, timeout=300)

    # The README's step 3: gunicorn with the package's hooks.
    port = wheel_check.free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "gunicorn.log"
    with log.open("wb") as output:
        server = subprocess.Popen(
            [
                str(venv / "bin" / "gunicorn"),
                "-c",
                "python:instrumentation.gunicorn",
                "--workers",
                "2",
                "--bind",
                f"127.0.0.1:{port}",
                "mysite.wsgi",
            ],
            cwd=tmp_path,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        wheel_check.wait_until_serving(base, server, log)
        statuses = [wheel_check.request(f"{base}/admin/login/")[0] for _ in range(3)]
        statuses += [wheel_check.request(f"{base}/no/such/page/")[0] for _ in range(2)]
        assert statuses == [200, 200, 200, 404, 404]
        status, metrics = wheel_check.request(f"{base}/metrics")
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    assert status == 200, metrics[:500]
    counts = wheel_check.counts(metrics)
    assert counts[("GET", "admin/login/", "200")] == 3, counts
    assert counts[("GET", "<unmatched>", "404")] == 2, counts
    assert 'service_name="mysite"' in metrics or "fleetobs_build_info{" in metrics
