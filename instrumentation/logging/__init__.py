"""Logging: one JSON pipeline (ECS field names) for structlog and the standard library.

Contract used by the middleware and :mod:`instrumentation.apps`:

``configure()``                         install the pipeline (unless LOGGING_CONFIGURE is off).
``reset()``                             undo configure() and forget global state (tests).
``begin_request(request, request_id)``  bind the request's context for every logger; return a token.
``finish_request(token, request, info)``emit the access-log line and unbind the context.
``log_n_plus_one(route, statement, count)`` warning line for an N+1 detection.
``begin_task(name, task_id)``           bind ``task.name``/``task.id`` for a background task; a token.
``finish_task(token, task_id)``         unbind them.
``shutdown()``                          flush shippers (worker exit).
``gunicorn_logconfig()``                ``logconfig_dict`` making gunicorn's loggers write the same JSON.

Modules, by role:

``pipeline``   the pipeline itself: settings snapshot, ProcessorFormatter chain, handler, output.
``request_lines``   request context binding, the access-log line and the N+1 line.
``request_context`` the context variable holding the request context, read by every line.
``ecs``        ECS field names (from the catalogue) and nesting.
``correlation`` ``ContextFilter`` / ``ContextProcessor``: the trace, request and service fields
               for a team's own formatter (python-json-logger, ecs-logging, plain text).
``redaction``  secrets, personal data, control characters, truncation (also used for spans).
``render``     orjson and console rendering.
``shipper``    optional direct shipping to Elasticsearch (bulk, background thread, bounded).
``assets``     Elasticsearch index template, ILM policy, Kibana saved objects, from the catalogue.
``cli``        ``fleetobs elasticsearch ...`` and ``fleetobs kibana ...``.
"""

from __future__ import annotations

from contextvars import Token
from typing import Any

from instrumentation.logging import output, pipeline, redaction, render, request_context, request_lines
from instrumentation.logging import shipper as _shipper
from instrumentation.logging.correlation import ContextFilter, ContextProcessor
from instrumentation.logging.pipeline import EcsFormatter, EcsHandler, gunicorn_logconfig

__all__ = [
    "ContextFilter",
    "ContextProcessor",
    "EcsFormatter",
    "EcsHandler",
    "begin_request",
    "begin_task",
    "configure",
    "finish_request",
    "finish_task",
    "gunicorn_logconfig",
    "log_n_plus_one",
    "reset",
    "shutdown",
]


def configure() -> None:
    """Install the JSON pipeline for structlog and the standard library (idempotent)."""
    pipeline.configure()


def reset() -> None:
    """Undo :func:`configure` and forget every cached value."""
    pipeline.reset()
    request_lines.reset()
    redaction.reset()
    render.reset()
    _shipper.reset()
    output.reset()


def shutdown(timeout: float = 5.0) -> None:
    """Write pending log lines, flush the Elasticsearch shipper, if any, for at most ``timeout``
    seconds (gunicorn ``worker_exit``)."""
    pipeline.shutdown(timeout)


def begin_request(request: Any, request_id: str, ids: Any = request_lines.CURRENT, info: Any = None) -> Any:
    """Bind the request's context (ids, method, path) for every log line until finish.

    ``ids``: the request's ``(trace id, span id)``, or ``None``, when the caller knows them;
    by default they are read from the current span. ``info``: the request's facts
    (:class:`~instrumentation._request.RequestInfo`), when the caller has them.
    """
    token: Token[Any] = request_lines.begin_request(request, request_id, ids, info)
    return token


def finish_request(token: Any, request: Any, info: Any) -> None:
    """Write the access-log line for ``request`` and unbind its context."""
    request_lines.finish_request(token, request, info)


def begin_task(name: str, task_id: str | None) -> Any:
    """Bind ``task.name`` and ``task.id`` for every log line until :func:`finish_task`."""
    return request_context.begin_task(name, task_id)


def finish_task(token: Any, task_id: str | None = None) -> None:
    """Unbind the task fields bound by :func:`begin_task` (``token``), or, without a token, those
    of task ``task_id`` if they are still bound."""
    request_context.finish_task(token, task_id)


def log_n_plus_one(route: str, statement: str, count: int) -> None:
    """Warn that ``statement`` ran ``count`` times while serving ``route``."""
    request_lines.log_n_plus_one(route, statement, count)
