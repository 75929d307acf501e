"""Every line of a gunicorn run names the service the settings name, master included.

The project sets only ``FLEET_OBSERVABILITY["SERVICE_NAME"]`` and, as Django's project template
does, ``DJANGO_SETTINGS_MODULE`` in its ``wsgi.py``, which only the workers import.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from instrumentation.logging import pipeline
from tests.support.procs import Gunicorn

ROOT = Path(__file__).resolve().parents[2]
WSGI = "tests.logging.identity_project.wsgi:application"


@pytest.fixture
def no_settings_module(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DJANGO_SETTINGS_MODULE", raising=False)


def test_settings_module_is_read_from_the_wsgi_module(no_settings_module: None) -> None:
    assert pipeline.adopt_settings_module(WSGI) == "tests.logging.identity_project.settings"
    assert os.environ["DJANGO_SETTINGS_MODULE"] == "tests.logging.identity_project.settings"


def test_a_set_settings_module_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DJANGO_SETTINGS_MODULE", "mine.settings")
    assert pipeline.adopt_settings_module(WSGI) == "mine.settings"
    assert os.environ["DJANGO_SETTINGS_MODULE"] == "mine.settings"


@pytest.mark.parametrize("app_uri", ["no.such.module:app", "tests.logging.identity_project.urls", "", None])
def test_no_settings_module_found(no_settings_module: None, app_uri: str | None) -> None:
    assert pipeline.adopt_settings_module(app_uri) is None
    assert "DJANGO_SETTINGS_MODULE" not in os.environ


@pytest.mark.integration
def test_every_gunicorn_line_names_the_configured_service(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for name in ("DJANGO_SETTINGS_MODULE", "OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES"):
        env.pop(name, None)
    server = Gunicorn(WSGI, workers=2, env=env, inherit_env=False, cwd=ROOT, workdir=tmp_path)
    with server:
        assert server.get("/").body == b"bread"
        server.terminate()
    lines = server.output_lines()
    events = [json.loads(line) for line in lines]
    loggers = {event["log"]["logger"] for event in events}
    assert {"gunicorn.error", "bakery.views", "fleetobs.access"} <= loggers
    assert sum("Booting worker" in event["message"] for event in events) == 2
    assert {event["service"]["name"] for event in events} == {"bakery"}, [
        (event["log"]["logger"], event["message"]) for event in events if event["service"]["name"] != "bakery"
    ]
