"""Settings of a project that formats its logs with python-json-logger, as docs/logging.md shows.

The instrumentation's own pipeline is off; the project's ``LOGGING`` adds the context filter to
its handler. Used by a subprocess in ``test_own_formatter_settings.py`` so Django applies this
``LOGGING`` itself, at setup, as it does in a real project.
"""

from __future__ import annotations

from tests.settings import *  # noqa: F403 - the test project, with its LOGGING replaced

ROOT_URLCONF = "tests.logging.own_formatter_urls"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "fleetobs": {"()": "instrumentation.logging.ContextFilter"},
    },
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "format": "{asctime}{levelname}{name}{message}",
            "style": "{",
            "reserved_attrs": "ext://instrumentation.logging.correlation.JSON_RESERVED_ATTRS",
        },
    },
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "formatter": "json",
            "filters": ["fleetobs"],
        },
    },
    "root": {"handlers": ["stdout"], "level": "INFO"},
    "loggers": {"django": {"handlers": [], "level": "INFO", "propagate": True}},
}
