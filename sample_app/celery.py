"""The Celery application of the sample shop (``celery -A sample_app.celery worker``).

Configuration comes from Django settings prefixed ``CELERY_``: a broker when one is configured,
otherwise eager execution in the calling process (see ``sample_app.settings``).
"""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sample_app.settings")

app = Celery("sample_app")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
