"""The settings mypy's Django plugin loads: the test project's, with the demo shop installed too,
so the models of both are known to the type checker (no test runs with these)."""

from __future__ import annotations

from tests.settings import *  # noqa: F403
from tests.settings import INSTALLED_APPS as _TEST_APPS

INSTALLED_APPS = [*_TEST_APPS, "sample_app.shop"]
