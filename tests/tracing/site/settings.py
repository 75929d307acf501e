"""A small Django project for the tracing integration tests (gunicorn, Celery).

Everything comes from the environment the test sets: the OTLP endpoint (standard ``OTEL_*``
variables), the SQLite file, the Celery broker. The views need no tables.
"""

from __future__ import annotations

import os

from tests.settings import *  # noqa: F403 - the unit-test settings, then what differs

ROOT_URLCONF = "tests.tracing.site.urls"
INSTALLED_APPS = ["instrumentation"]
MIDDLEWARE = ["instrumentation.middleware.ObservabilityMiddleware"]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("TRACING_SITE_DB", ":memory:"),
    }
}
FLEET_OBSERVABILITY = {
    "SERVICE_NAME": "tracing-site",
    "SERVICE_VERSION": "9.9.9",
    "ENVIRONMENT": "ci",
    "LOGGING_CONFIGURE": False,
    "SPAN_SCHEDULE_DELAY": float(os.environ.get("TRACING_SITE_SCHEDULE_DELAY", "0.2")),
    "SPAN_EXPORT_TIMEOUT": float(os.environ.get("TRACING_SITE_EXPORT_TIMEOUT", "2.0")),
    "SPAN_QUEUE_SIZE": int(os.environ.get("TRACING_SITE_QUEUE_SIZE", "2048")),
}
CELERY_BROKER_URL = os.environ.get("TRACING_SITE_BROKER", "memory://")
CELERY_RESULT_BACKEND = os.environ.get("TRACING_SITE_BACKEND") or None
CELERY_TASK_ALWAYS_EAGER = CELERY_BROKER_URL == "memory://"
