"""The test project on the database named by ``FLEETOBS_TEST_DATABASE`` (see ``probe.py``)."""

from __future__ import annotations

import os

from tests.settings import *  # noqa: F403 - the same project, another database

_NAME = os.environ.get("FLEETOBS_TEST_DATABASE", "sqlite")
_TEST_NAME = f"fleetobs_matrix_{os.getpid()}"
_SERVERS = {
    "sqlite": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"},
    "postgresql": {
        "ENGINE": "django.db.backends.postgresql",
        "HOST": "127.0.0.1",
        "PORT": "5432",
        "NAME": "test",
        "USER": "postgres",
        "TEST": {"NAME": _TEST_NAME},
    },
    "mariadb": {
        "ENGINE": "django.db.backends.mysql",
        "HOST": "127.0.0.1",
        "PORT": "3306",
        "NAME": "test",
        "USER": "root",
        "PASSWORD": "",
        "TEST": {"NAME": _TEST_NAME},
    },
}
DATABASES = {"default": _SERVERS[_NAME.split("-", 1)[0]]}
