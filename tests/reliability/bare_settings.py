"""The sample shop without Fleet Observability: no app, no middleware (the reference for
"responses are what the app would give without us")."""

from __future__ import annotations

from sample_app.settings import *  # noqa: F403 - the same shop, minus the instrumentation
from sample_app.settings import INSTALLED_APPS as _APPS
from sample_app.settings import MIDDLEWARE as _MIDDLEWARE

INSTALLED_APPS = [app for app in _APPS if app != "instrumentation"]
MIDDLEWARE = [m for m in _MIDDLEWARE if m != "instrumentation.middleware.ObservabilityMiddleware"]
ROOT_URLCONF = "tests.reliability.urls"
