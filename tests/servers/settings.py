"""The test project as a service would run it in production: the JSON log pipeline installed
(every line on standard output is ECS JSON) and tracing on (request lines carry trace ids)."""

from __future__ import annotations

from tests.settings import *  # noqa: F403 - the same project, two settings changed

FLEET_OBSERVABILITY = {
    "SERVICE_NAME": "servers-under-test",
    "SERVICE_VERSION": "1.2.3",
    "ENVIRONMENT": "test",
    "LOGGING_CONFIGURE": True,
    "TRACING_ENABLED": True,
}
