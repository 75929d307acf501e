"""The Celery app of the tracing test site (``celery -A tests.tracing.site.celery_app worker``)."""

from __future__ import annotations

import os

import django
from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.tracing.site.settings")
django.setup()

from instrumentation import celery as fleet_celery  # noqa: E402 - Django must be set up first

app = Celery("tracing_site")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["tests.tracing.site"])
fleet_celery.instrument()
