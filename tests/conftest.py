"""Suite-wide fixtures: every test starts from clean instrumentation globals, and failures
inside the instrumentation raise instead of being swallowed by the error boundary."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from instrumentation import testing


def pytest_configure(config: pytest.Config) -> None:
    # Integration tests must fail, not skip, in CI when a service or binary is missing.
    config.addinivalue_line("markers", "requires_ci_services: never skipped under CI=true")


@pytest.fixture(autouse=True)
def _clean_instrumentation() -> Iterator[None]:
    testing.reset_all()
    with testing.raise_internal_errors():
        yield
    testing.reset_all()


@pytest.fixture
def in_ci() -> bool:
    return os.environ.get("CI") == "true"
