"""The unit-test project with the JSON log pipeline on, for the response-size test under gunicorn."""

from __future__ import annotations

from tests.settings import *  # noqa: F403 - the same project, one difference below
from tests.settings import FLEET_OBSERVABILITY

FLEET_OBSERVABILITY = {**FLEET_OBSERVABILITY, "LOGGING_CONFIGURE": True, "LOG_LEVEL": "INFO"}
