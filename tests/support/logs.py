"""The log pipeline writing into memory under the suite's settings, for any test package.

Built on the shipped :func:`instrumentation.logging.testing.capture_logs`, so the suite reads its
log lines with the same :class:`~instrumentation.logging.testing.CapturedLogs` users do::

    # any test (tests/conftest.py registers this module as a plugin)
    def test_one_access_line(logs: CapturedLogs, client: Client) -> None:
        client.get("/ok/")
        (line,) = logs.access()

``BASE_SETTINGS``      the FLEET_OBSERVABILITY every capture starts from (service identity,
                       the pipeline installed by the capture rather than by ``ready()``,
                       tracing off)
``configure_logs``     fixture: ``configure_logs(**FLEET_OBSERVABILITY overrides)`` applies the
                       settings and installs the pipeline; call it again to change them
``logs``               fixture: the pipeline under ``BASE_SETTINGS``

Everything is undone when the test ends: the pipeline and every logging cache reset, the
settings restored, the resolved configuration forgotten.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.test import override_settings

from instrumentation import conf
from instrumentation import logging as fleet_logging
from instrumentation.logging.testing import CapturedLogs, capture_logs

__all__ = ["BASE_SETTINGS", "ConfigureLogs", "configure_logs", "logs"]

BASE_SETTINGS: dict[str, Any] = {
    "SERVICE_NAME": "tests",
    "SERVICE_VERSION": "1.2.3",
    "ENVIRONMENT": "test",
    "LOGGING_CONFIGURE": False,
    "TRACING_ENABLED": False,
}

ConfigureLogs = Callable[..., CapturedLogs]


@pytest.fixture
def configure_logs() -> Iterator[ConfigureLogs]:
    """Call ``configure_logs(**FLEET_OBSERVABILITY overrides)`` to install the pipeline."""
    with contextlib.ExitStack() as undo:
        undo.callback(conf.reset)

        def install(**settings: Any) -> CapturedLogs:
            undo.enter_context(override_settings(FLEET_OBSERVABILITY={**BASE_SETTINGS, **settings}))
            conf.reset()
            return undo.enter_context(capture_logs())

        yield install
        fleet_logging.reset()


@pytest.fixture
def logs(configure_logs: ConfigureLogs) -> CapturedLogs:
    """The pipeline installed with the test settings (JSON)."""
    return configure_logs()
