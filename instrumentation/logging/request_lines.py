"""Request context for log lines, and the one access-log line per request.

:func:`begin_request` stores a :class:`RequestContext` in a context variable (so it follows the
request across threads' ``contextvars`` copies and ``async`` tasks) holding the fields every
line logged during the request carries: ``http.request.id``, ``http.request.method``,
``url.path``, ``trace.id``, ``span.id`` and ``transaction.id``. The trace ids come from
:func:`instrumentation.tracing.current_ids`, read again for each line so a line logged inside
a child span (a database query) carries that span's id.

:func:`finish_request` writes the access line (dataset ``django.access``, logger
``fleetobs.access``) and restores the previous context. A streamed response's line waits for its
body to be sent (its size is known only then): :func:`end_request` restores the context at once
and :func:`write_access_line` writes the line when the server has sent the body. The access line
is assembled as a nested ECS dict in one go, with the static parts shared, and rendered once: it
is the one line every request pays for. Its level follows the status (5xx error, 4xx warning,
else info); successful requests can be sampled with ``ACCESS_LOG_SAMPLE_RATE``, and successful
requests to the routes excluded from metrics (``/metrics``, ``/healthz``, ``/readyz``: scrapes
and probes) get no access line at all. The user id is read only when authentication already ran
(``request._cached_user``), never by touching the database.

When the pipeline is not installed (``LOGGING_CONFIGURE`` off), the access line goes to the
standard ``fleetobs.access`` logger with the ECS fields as ``extra`` attributes, for whatever
``LOGGING`` the project has.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import random
import time
from contextvars import Token
from typing import Any

from django.utils.functional import LazyObject, empty

from instrumentation._request import OTHER_METHOD, RequestInfo, request_method
from instrumentation.lifecycle import on_reset
from instrumentation.logging import pipeline as pipeline_module
from instrumentation.logging import render
from instrumentation.logging.request_context import REQUEST_ATTRIBUTE, RequestContext, add_request_fields
from instrumentation.logging.request_context import current as _current
from instrumentation.logging.request_context import current_ids as _ids
from instrumentation.redaction import safe_str

__all__ = [
    "RequestContext",
    "add_request_fields",
    "begin_request",
    "current_request",
    "end_request",
    "finish_request",
    "log_n_plus_one",
    "reset",
    "write_access_line",
]

_METHOD_LIMIT = 32
#: ``begin_request``'s default for ``ids``: read the current span's.
CURRENT = object()
_IP_CACHE_LIMIT = 1024


_valid_ips: dict[str, str | None] = {}
_access_logger = logging.getLogger(pipeline_module.ACCESS_LOGGER)
_db_logger = logging.getLogger("fleetobs.db")


def current_request() -> RequestContext | None:
    """The context of the request being served in this thread or task, if any."""
    return _current.get()


def begin_request(
    request: Any, request_id: str, ids: Any = CURRENT, info: RequestInfo | None = None
) -> Token[RequestContext | None]:
    """Bind the request's context for every logger; returns the token for :func:`finish_request`.

    ``ids`` are the request's ``(trace id, span id)`` when the caller knows them (the
    middleware, from the server span it just started); by default the current span's. ``info``:
    the request's facts, when the caller has them. A method outside the standard ones is logged
    as received (cleaned), where metrics and spans say ``_OTHER``.
    """
    pipeline = pipeline_module.current()
    redactor = pipeline.redactor
    meta = request.META
    if info is None:
        raw_method = request.method or ""
        method = request_method(raw_method)
    else:
        raw_method, method = info.method_original, info.method
    if method == OTHER_METHOD:
        method = redactor.clean(str(raw_method), limit=_METHOD_LIMIT)
    path = redactor.clean(request.path)
    query = meta.get("QUERY_STRING", "")
    if query:
        query = redactor.clean(redactor.redact_query(query))
    trace_ids = _ids() if ids is CURRENT else ids
    ctx = RequestContext(redactor.clean(request_id, limit=128), method, path, query, trace_ids)
    with contextlib.suppress(AttributeError, TypeError):
        # for Django's lines about this request logged after the middleware returned
        setattr(request, REQUEST_ATTRIBUTE, ctx)
    return _current.set(ctx)


def _user_id(request: Any) -> str | None:
    """The authenticated user's id if authentication already ran; never queries."""
    attributes = getattr(request, "__dict__", {})
    user = attributes.get("_cached_user")
    if user is None:
        user = attributes.get("user")
        if user is None:
            return None
        if isinstance(user, LazyObject):
            wrapped = user._wrapped
            if wrapped is empty:
                return None
            user = wrapped
    if not getattr(user, "is_authenticated", False):
        return None
    pk = getattr(user, "pk", None)
    return None if pk is None else str(pk)


def _client_ip(remote: str, pipeline: pipeline_module.Pipeline) -> str | None:
    """REMOTE_ADDR if it is an IP address (the field is mapped ``ip``), masked if configured."""
    cached = _valid_ips.get(remote, empty)
    if cached is not empty:
        return cached  # type: ignore[return-value]
    try:
        address: str | None = str(ipaddress.ip_address(remote))
    except ValueError:
        address = None
    if address is not None and pipeline.redactor.pii_masking:
        address = pipeline.redactor.mask_ip(address)
    if len(_valid_ips) >= _IP_CACHE_LIMIT:
        _valid_ips.clear()
    _valid_ips[remote] = address
    return address


def finish_request(token: Token[RequestContext | None] | None, request: Any, info: Any) -> None:
    """Emit the access-log line for ``request`` and unbind its context."""
    try:
        _access_line(request, info)
    finally:
        if token is not None:
            try:
                _current.reset(token)
            except ValueError:  # token from another context (async hand-over): just clear
                _current.set(None)


def end_request(token: Token[RequestContext | None] | None) -> RequestContext | None:
    """Unbind the request's context without writing its access line yet; returns the context.

    For a streamed response, whose size is known only once the server has sent it: the access
    line is written later with :func:`write_access_line`, outside the request's context.
    """
    ctx = _current.get()
    if token is not None:
        try:
            _current.reset(token)
        except ValueError:
            _current.set(None)
    return ctx


def write_access_line(request: Any, info: Any, ctx: RequestContext | None) -> None:
    """The access line of a request whose context :func:`end_request` unbound."""
    _access_line(request, info, ctx)


def _access_line(request: Any, info: Any, ctx: RequestContext | None = None) -> None:
    pipeline = pipeline_module.current()
    if not pipeline.access_enabled:
        return
    status: int = info.status
    if status >= 500:
        level, levelno = "error", logging.ERROR
    elif status >= 400:
        level, levelno = "warning", logging.WARNING
    else:
        if info.route in pipeline.quiet_routes:
            return
        if pipeline.sample_rate < 1.0 and random.random() >= pipeline.sample_rate:  # noqa: S311 - sampling
            return
        level, levelno = "info", logging.INFO
    if not _access_logger.isEnabledFor(levelno):
        return
    if ctx is None:
        ctx = _current.get()
    if ctx is None:
        # finish without begin (or a foreign context): rebuild what begin_request would have.
        ctx = _current.get() or _context_for(request, info.request_id)
    meta = request.META
    redactor = pipeline.redactor

    http_request: dict[str, Any] = {"id": ctx.request_id, "method": ctx.method}
    if info.request_bytes:
        http_request["body"] = {"bytes": info.request_bytes}
    http_response: dict[str, Any] = {"status_code": status}
    if info.response_bytes is not None:
        http_response["body"] = {"bytes": info.response_bytes}
    url: dict[str, Any] = {"path": ctx.path}
    if ctx.query:
        url["query"] = ctx.query
    static = pipeline.static.for_current_process()
    event: dict[str, Any] = {
        "@timestamp": render.format_timestamp(time.time()),
        "log": {"level": level, "logger": pipeline_module.ACCESS_LOGGER},
        "message": f"{ctx.method} {ctx.path} {status}",
        "ecs": static.ecs,
        "service": static.service,
        "host": static.host,
        "process": static.process,
        "event": {"dataset": "django.access", "duration": info.duration_ns},
        "http": {"request": http_request, "response": http_response, "route": info.route},
        "url": url,
    }
    if ctx.trace_id is not None:
        event["trace"] = {"id": ctx.trace_id}
        event["span"] = {"id": ctx.span_id}
        event["transaction"] = {"id": ctx.span_id}
    remote = meta.get("REMOTE_ADDR")
    if remote:
        ip = _client_ip(remote, pipeline)
        if ip is not None:
            event["client"] = {"ip": ip}
    agent = meta.get("HTTP_USER_AGENT")
    if agent:
        event["user_agent"] = {"original": redactor.clean(agent)}
    user_id = _user_id(request)
    if user_id is not None:
        event["user"] = {"id": redactor.clean(user_id)}
    exc = info.exception
    if exc is not None:
        # Type and message only: Django's own error line carries the stack trace.
        event["error"] = {
            "type": pipeline_module.error_type(type(exc)),
            "message": redactor.clean_text(safe_str(exc)),
        }

    if pipeline_module.installed() is None:
        _via_stdlib(levelno, event)
    else:
        pipeline.write_event(event, levelno >= logging.WARNING)


def _context_for(request: Any, request_id: str) -> RequestContext:
    token = begin_request(request, request_id)
    ctx = _current.get()
    _current.reset(token)
    if ctx is None:  # pragma: no cover - begin_request always sets one
        raise RuntimeError("request context missing")
    return ctx


def _flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _flatten(f"{prefix}.{key}" if prefix else key, item, out)
    else:
        out[prefix] = value


_STATIC_PREFIXES = ("ecs.", "service.", "host.", "process.", "log.", "@timestamp", "message")


def _via_stdlib(levelno: int, event: dict[str, Any]) -> None:
    """No pipeline installed: hand the line to the project's own logging configuration."""
    flat: dict[str, Any] = {}
    _flatten("", event, flat)
    extra = {k: v for k, v in flat.items() if not k.startswith(_STATIC_PREFIXES)}
    _access_logger.log(levelno, event["message"], extra=extra)


def log_n_plus_one(route: str, statement: str, count: int) -> None:
    """A warning line: ``statement`` ran ``count`` times in one request to ``route``."""
    if not _db_logger.isEnabledFor(logging.WARNING):
        return
    _db_logger.warning(
        "N+1 queries: the same statement ran %d times in one request to %s",
        count,
        route,
        extra={"http.route": route, "db.statement": statement, "db.query_count": count},
    )


@on_reset
def reset() -> None:
    """Forget the cached client addresses and any bound request context."""
    _valid_ips.clear()
    _current.set(None)
