"""Suite-wide fixtures: every test starts from clean instrumentation globals, and failures
inside the instrumentation raise instead of being swallowed by the error boundary. The log
pipeline writing into memory (``logs``, ``configure_logs``) comes from :mod:`tests.support.logs`."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from instrumentation import cache, db, testing

pytest_plugins = ["tests.support.logs"]


def pytest_configure(config: pytest.Config) -> None:
    # Integration tests must fail, not skip, in CI when a service or binary is missing.
    config.addinivalue_line("markers", "requires_ci_services: never skipped under CI=true")


_PROCESS_ENV = ("PROMETHEUS_MULTIPROC_DIR", "FLEETOBS_CREATED_MULTIPROC_DIR")


@pytest.fixture(autouse=True)
def _clean_instrumentation() -> Iterator[None]:
    # Importing a gunicorn config (instrumentation.gunicorn) points this process at a multiprocess
    # directory; a test that does so must not leave the rest of the run in multiprocess mode.
    saved = {name: os.environ.get(name) for name in _PROCESS_ENV}
    testing.reset_all()
    # ready() ran once for the session; a test that stopped the instrumentation must not leave
    # the tests after it uninstrumented.
    db.instrument()
    cache.instrument()
    with testing.raise_internal_errors():
        yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    testing.reset_all()


@pytest.fixture
def in_ci() -> bool:
    return os.environ.get("CI") == "true"
