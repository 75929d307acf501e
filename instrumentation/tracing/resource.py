"""The OpenTelemetry resource: who emitted a span.

:func:`base_attributes` is everything that is the same in every worker: the settings' service
name, version and environment (which already fold in ``OTEL_SERVICE_NAME`` and the
``service.*``/``deployment.environment*`` keys of ``OTEL_RESOURCE_ATTRIBUTES``), the host name,
and every other key of ``OTEL_RESOURCE_ATTRIBUTES`` (``k8s.pod.name=...,team=...``).
:func:`process_resource` adds what differs per process: ``process.pid`` and a fresh
``service.instance.id``. The exporter thread builds it when it starts in each process, so a
worker forked from a preloaded master reports its own pid and instance id, not the master's.
"""

from __future__ import annotations

import os
import platform
import uuid
from urllib.parse import unquote

from opentelemetry.sdk.resources import Resource

from instrumentation.conf import Settings

_MAX_ENV_ATTRIBUTES = 128


def env_attributes(raw: str | None = None) -> dict[str, str]:
    """Parse ``OTEL_RESOURCE_ATTRIBUTES`` (``key=value`` pairs, values percent-encoded)."""
    text = os.environ.get("OTEL_RESOURCE_ATTRIBUTES", "") if raw is None else raw
    result: dict[str, str] = {}
    for item in text.split(",")[:_MAX_ENV_ATTRIBUTES]:
        key, sep, value = item.partition("=")
        key = key.strip()
        if sep and key:
            result[key] = unquote(value.strip())
    return result


def base_attributes(settings: Settings) -> dict[str, str]:
    attributes = env_attributes()
    attributes.pop("deployment.environment", None)
    attributes.update(
        {
            "service.name": settings.service_name,
            "service.version": settings.service_version,
            "deployment.environment.name": settings.environment,
            "host.name": settings.host_name,
            "process.runtime.name": platform.python_implementation().lower(),
            "process.runtime.version": platform.python_version(),
        }
    )
    return attributes


def base_resource(settings: Settings) -> Resource:
    """The resource of the tracer provider (SDK defaults such as ``telemetry.sdk.*`` included)."""
    return Resource.create(base_attributes(settings))


def process_resource(base: Resource) -> Resource:
    """``base`` plus this process's pid and a new unique ``service.instance.id``."""
    return base.merge(Resource({"process.pid": os.getpid(), "service.instance.id": str(uuid.uuid4())}))
