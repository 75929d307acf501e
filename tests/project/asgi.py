"""ASGI entry point of the test project (the twin of ``wsgi.py``), exactly as Django's project
template writes it: tests run it under real ASGI servers unchanged, as a user's project would be."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
application = get_asgi_application()
