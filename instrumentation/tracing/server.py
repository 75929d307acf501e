"""Server spans: one SERVER span per request, started by the middleware and finished by it.

:func:`start_request` reads the W3C context from the request headers, decides sampling,
starts the span (a :class:`~instrumentation.tracing.spans.FastSpan` when sampled, otherwise a
``NonRecordingSpan`` that still carries ids for logs and outgoing calls) and makes it current.
Probes and scrapes (the static paths of ``METRICS_EXCLUDED_ROUTES``: ``/metrics``, ``/healthz``,
``/readyz`` by default) are never recorded, so they do not flood the trace store.
The route is only known once Django has resolved the URL, so :func:`finish_request` names the
span ``"{method} {route}"`` (``"{method}"`` alone for unmatched requests, ``HTTP`` for
non-standard methods, as the HTTP semantic conventions say), adds the response attributes,
marks 5xx and unhandled exceptions as errors with an ``exception`` event, sets the trace-id
response header and ends the span.

**Beside OpenTelemetry's own server instrumentation.** When a request arrives with a local span
already current (``opentelemetry-instrumentation-django``'s middleware, which
``opentelemetry-instrument`` turns on and puts first, or an OpenTelemetry WSGI/ASGI middleware
around the application), that span *is* the request's span: no second SERVER span (and no
second trace) is started. The project adopts it: it adds its attributes, names it from the
route, sets the status and the trace-id header, and leaves ending it (and recording the
exception) to its owner. System check ``fleetobs.I001`` says so.

Attributes (HTTP semantic conventions): ``http.request.method`` (and
``http.request.method_original`` for ``_OTHER``), ``http.route`` (the same Django URL pattern
as the metrics' ``http_route`` label), ``http.response.status_code``, ``url.path``,
``url.scheme``, ``client.address`` (the socket peer), ``user_agent.original``,
``server.address``, ``server.port``, ``network.protocol.version``, ``error.type``. The query
string, headers, cookies and bodies are never recorded.
"""

from __future__ import annotations

from contextvars import Token
from typing import Any

from django.conf import settings as django_settings
from opentelemetry import context as context_api
from opentelemetry import trace as trace_api
from opentelemetry.context import Context
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, TraceFlags, TraceState
from opentelemetry.trace.status import Status, StatusCode

from instrumentation._headers import set_header
from instrumentation._request import OTHER_METHOD, RequestInfo, request_method
from instrumentation.catalog import UNMATCHED_ROUTE
from instrumentation.lifecycle import on_reset
from instrumentation.tracing.children import new_span
from instrumentation.tracing.ids import new_span_id, new_trace_id, trace_hex
from instrumentation.tracing.provider import TracingState
from instrumentation.tracing.spans import FastSpan, exception_attributes
from instrumentation.tracing.trust import resampled

_NOT_SAMPLED = TraceFlags(0)
_EMPTY_STATE = TraceState()
_ERROR = Status(StatusCode.ERROR)
_SERVER = SpanKind.SERVER
_attach = context_api.attach
_detach = context_api.detach
_set_span_in_context = trace_api.set_span_in_context
_get_current_span = trace_api.get_current_span
_MAX_HOSTS = 64
_django_settings: Any = django_settings  # its ``_wrapped`` object identifies the settings in force
# The Django settings object the cache was built for, and its proxy scheme header.
_connections_for: tuple[object, str | None] = (None, None)
_connections: dict[tuple[Any, ...], tuple[tuple[str, Any], ...]] = {}


@on_reset
def reset() -> None:
    """Forget the cached connection attributes."""
    global _connections_for
    _connections_for = (None, None)
    _connections.clear()


class RequestHandle:
    """What the middleware holds between :func:`start_request` and :func:`finish_request`."""

    __slots__ = ("exception", "name_method", "owned", "span", "token", "trace_id")

    def __init__(
        self,
        span: trace_api.Span,
        token: Token[Context] | None,
        trace_id: int,
        name_method: str,
        owned: bool = True,
    ) -> None:
        self.span = span
        self.token = token
        self.trace_id = trace_id
        self.name_method = name_method
        #: False when the span belongs to an outer instrumentation (it ends it, not us).
        self.owned = owned
        self.exception: BaseException | None = None

    @property
    def sampled(self) -> bool:
        return bool(self.span.get_span_context().trace_flags & 1)

    def trace_id_hex(self) -> str:
        span = self.span
        if type(span) is FastSpan:
            return span.ids()[0]
        return trace_hex(self.trace_id)


def _host_allowed(host: str, django_settings: Any) -> bool:
    """Whether Django's ``ALLOWED_HOSTS`` accepts ``host``."""
    from django.http.request import split_domain_port, validate_host

    patterns = django_settings.ALLOWED_HOSTS
    effective = patterns or ([".localhost", "127.0.0.1", "[::1]"] if django_settings.DEBUG else [])
    domain, _port = split_domain_port(host)
    return bool(domain) and validate_host(domain, effective)


def _server_address(host: str) -> tuple[str, int | None]:
    name, port = host, None
    if host.startswith("["):
        end = host.find("]")
        name = host[1:end] if end > 0 else host
        rest = host[end + 1 :] if end > 0 else ""
        if rest.startswith(":") and rest[1:].isdigit():
            port = int(rest[1:])
    elif host.count(":") == 1:
        name, _, port_text = host.partition(":")
        port = int(port_text) if port_text.isdigit() and len(port_text) <= 5 else None
    return name[:255], port


def _connection_attributes(request: Any, meta: Any) -> tuple[tuple[str, Any], ...]:
    """``url.scheme``, ``server.*`` and ``network.protocol.version``, cached per distinct input.

    They depend only on a few request values (Host, server name and port, protocol, scheme and
    the proxy's scheme header) and on Django settings, which are the same for nearly every
    request a process serves; a change of settings object (``override_settings``) empties the
    cache. At most ``_MAX_HOSTS`` entries: hostile Host headers cannot grow it.
    """
    global _connections_for
    wrapped = _django_settings._wrapped
    if wrapped is not _connections_for[0]:
        proxy = getattr(_django_settings, "SECURE_PROXY_SSL_HEADER", None)
        _connections_for = (wrapped, proxy[0] if proxy else None)
        _connections.clear()
    proxy_header = _connections_for[1]
    host = meta.get("HTTP_HOST")
    key = (
        host,
        meta.get("SERVER_NAME"),
        meta.get("SERVER_PORT"),
        meta.get("SERVER_PROTOCOL"),
        request._get_scheme(),
        meta.get(proxy_header) if proxy_header else None,
    )
    found = _connections.get(key)
    if found is not None:
        return found
    attributes: list[tuple[str, Any]] = [("url.scheme", request.scheme)]
    if not host or not _host_allowed(host, _django_settings):
        # A Host header Django would reject (DisallowedHost) is attacker-controlled text.
        host = meta.get("SERVER_NAME")
    if host:
        address, port = _server_address(host)
        attributes.append(("server.address", address))
        if port is None:
            server_port = meta.get("SERVER_PORT")
            port = int(server_port) if isinstance(server_port, str) and server_port.isdigit() else None
        if port is not None:
            attributes.append(("server.port", port))
    protocol = meta.get("SERVER_PROTOCOL")
    if protocol and protocol.startswith("HTTP/"):
        attributes.append(("network.protocol.version", protocol[5:9]))
    found = tuple(attributes)
    if len(_connections) >= _MAX_HOSTS:
        _connections.clear()
    _connections[key] = found
    return found


def _attributes(request: Any, meta: Any, limit: int, info: RequestInfo | None) -> tuple[dict[str, Any], str]:
    if info is None:
        raw_method = request.method or ""
        method = request_method(raw_method)
    else:
        raw_method, method = info.method_original, info.method
    attributes: dict[str, Any]
    if method == OTHER_METHOD:
        attributes = {"http.request.method": OTHER_METHOD, "http.request.method_original": raw_method[:64]}
        name_method = "HTTP"
    else:
        attributes = {"http.request.method": method}
        name_method = method
    attributes["url.path"] = request.path[:limit]
    client = meta.get("REMOTE_ADDR")
    if client:
        attributes["client.address"] = client[:255]
    agent = meta.get("HTTP_USER_AGENT")
    if agent:
        attributes["user_agent.original"] = agent[:limit]
    attributes.update(_connection_attributes(request, meta))
    return attributes, name_method


def _adopt(
    outer: trace_api.Span, trace_id: int, attributes: dict[str, Any], name_method: str
) -> RequestHandle:
    """Enrich the span an outer OpenTelemetry server instrumentation started for this request."""
    if outer.is_recording():
        outer.set_attributes(attributes)
    return RequestHandle(outer, None, trace_id, name_method, owned=False)


def _not_recorded(parent: SpanContext | None) -> NonRecordingSpan:
    return NonRecordingSpan(
        SpanContext(
            parent.trace_id if parent is not None else new_trace_id(),
            new_span_id(),
            False,
            _NOT_SAMPLED,
            parent.trace_state if parent is not None else _EMPTY_STATE,
        )
    )


def start_request(state: TracingState, request: Any, info: RequestInfo | None = None) -> RequestHandle:
    """Start (or adopt) the request's server span; ``info``: what the middleware already knows."""
    meta = request.META
    attributes, name_method = _attributes(request, meta, state.settings.max_value_length, info)
    outer = _get_current_span()
    outer_context = outer.get_span_context()
    if outer_context.is_valid and not outer_context.is_remote:
        return _adopt(outer, outer_context.trace_id, attributes, name_method)
    parent, base = state.extract(meta)
    untrusted = state.untrusted
    if parent is not None and untrusted is not None and untrusted(meta):
        parent = resampled(parent, state.sampler.bound)
    excluded = request.path[1:].rstrip("/") in state.excluded_paths
    span: trace_api.Span
    if state.tracer is None:
        span = new_span(state, name_method, attributes, _SERVER, parent, excluded)
    elif excluded:
        span = _not_recorded(parent)
    else:
        parent_context = base if base is not None else Context()
        if parent is not None:
            parent_context = _set_span_in_context(NonRecordingSpan(parent), parent_context)
        span = state.tracer.start_span(
            name_method, context=parent_context, kind=_SERVER, attributes=attributes
        )
    trace_id = span.get_span_context().trace_id
    token = _attach(_set_span_in_context(span, base))
    return RequestHandle(span, token, trace_id, name_method)


def record_exception(handle: RequestHandle, exc: BaseException) -> None:
    # Kept until the status is known: Http404/PermissionDenied become 4xx, not errors.
    handle.exception = exc


def finish_request(
    state: TracingState, handle: RequestHandle, route: str, status: int, response: Any
) -> None:
    span = handle.span
    try:
        if span.is_recording():
            if route and route != UNMATCHED_ROUTE:
                span.update_name(f"{handle.name_method} {route}")
                span.set_attribute("http.route", route)
            span.set_attribute("http.response.status_code", status)
            if status >= 500:
                exc = handle.exception
                span.set_status(_ERROR)
                span.set_attribute("error.type", type(exc).__qualname__ if exc is not None else str(status))
                # An adopted span's owner records the exception itself (once is enough).
                if exc is not None and handle.owned:
                    span.add_event("exception", exception_attributes(exc, escaped=response is None))
            if handle.owned:
                span.end()
        header = state.header
        if header and response is not None:
            set_header(response, header, handle.trace_id_hex())
    finally:
        if handle.token is not None:
            _detach(handle.token)
