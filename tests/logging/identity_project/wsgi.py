"""WSGI entry point as Django's project template writes it."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.logging.identity_project.settings")

application = get_wsgi_application()
