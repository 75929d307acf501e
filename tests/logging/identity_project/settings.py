"""Settings naming the service ``bakery``; no environment variable names it."""

from __future__ import annotations

SECRET_KEY = "tests-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "tests.logging.identity_project.urls"
INSTALLED_APPS = ["instrumentation"]
MIDDLEWARE = ["instrumentation.middleware.ObservabilityMiddleware"]
DATABASES: dict[str, object] = {}
FLEET_OBSERVABILITY = {"SERVICE_NAME": "bakery", "TRACING_ENABLED": False}
