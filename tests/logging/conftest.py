"""Fixtures for the logging tests: a configured pipeline writing into memory, and the fakes."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import override_settings

from instrumentation import conf
from instrumentation import logging as fleet_logging
from instrumentation.logging import pipeline
from tests.logging.es_server import FakeElasticsearch, FakeKibana

BASE_SETTINGS: dict[str, Any] = {
    "SERVICE_NAME": "tests",
    "SERVICE_VERSION": "1.2.3",
    "ENVIRONMENT": "test",
    "LOGGING_CONFIGURE": False,
    "TRACING_ENABLED": False,
}


class Captured:
    """What the pipeline wrote, one JSON object per line."""

    def __init__(self, stream: io.StringIO) -> None:
        self.stream = stream

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    def raw_lines(self) -> list[str]:
        return self.text.splitlines()

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.raw_lines()]

    def by_logger(self, name: str) -> list[dict[str, Any]]:
        return [line for line in self.lines() if line["log"]["logger"] == name]

    def access(self) -> list[dict[str, Any]]:
        return self.by_logger("fleetobs.access")

    def clear(self) -> None:
        self.stream.seek(0)
        self.stream.truncate()


@pytest.fixture
def configure_logs() -> Iterator[Any]:
    """Call ``configure_logs(**FLEET_OBSERVABILITY overrides)`` to install the pipeline."""
    overrides: list[Any] = []

    def install(**settings: Any) -> Captured:
        stream = io.StringIO()
        override = override_settings(FLEET_OBSERVABILITY={**BASE_SETTINGS, **settings})
        override.enable()
        overrides.append(override)
        conf.reset()
        pipeline.configure(stream=stream)
        return Captured(stream)

    yield install
    fleet_logging.reset()
    for override in reversed(overrides):
        override.disable()
    conf.reset()


@pytest.fixture
def logs(configure_logs: Any) -> Captured:
    """The pipeline installed with the test settings (JSON)."""
    captured: Captured = configure_logs()
    return captured


@pytest.fixture
def es_server() -> Iterator[FakeElasticsearch]:
    server = FakeElasticsearch()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def kibana_server() -> Iterator[FakeKibana]:
    server = FakeKibana()
    server.start()
    yield server
    server.stop()
