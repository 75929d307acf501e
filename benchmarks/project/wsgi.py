"""The WSGI application of the benchmark project, for gunicorn and the in-process runs."""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.project.settings")

from django.core.wsgi import get_wsgi_application

from benchmarks import configs
from benchmarks.project import wiring

CONFIG = configs.get(os.environ.get("FLEETOBS_BENCH_CONFIG", "bare"))
wiring.before_django(CONFIG)
application = get_wsgi_application()
wiring.after_django(CONFIG)
