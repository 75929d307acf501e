"""WebSockets under Django Channels, observed per connection: :class:`ObservedWebSockets`.

One ASGI wrapper around the WebSocket side of the application, in ``asgi.py``::

    from instrumentation.channels import ObservedWebSockets

    application = ProtocolTypeRouter({
        "http": get_asgi_application(),
        "websocket": ObservedWebSockets(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    })

It passes every scope and every ASGI message through unchanged (the same objects, in the same
order; scopes other than ``websocket`` are not touched at all) and watches the messages go by::

    websocket.connect     (received)  the connection's SERVER span starts ("WebSocket {route}"),
                                      child of the handshake's traceparent when the caller is
                                      trusted (TRACE_PARENT_TRUST), current while the consumer runs
    websocket.accept      (sent)      fleetobs_websocket_connections_opened += 1, _active += 1
    websocket.receive     (received)  fleetobs_websocket_messages_received += 1
    websocket.send        (sent)      fleetobs_websocket_messages_sent += 1
    websocket.close       (sent)      the server's close code (1000 when none is given)
    websocket.disconnect  (received)  the client's close code (1005/1006 when it sent none)
    the application returns           _active -= 1, fleetobs_websocket_connections_closed
                                      {websocket_close_reason} += 1, the span ends with the
                                      message counts and the close code, and one log line
                                      (logger ``fleetobs.websocket``) with the trace ids

The first close code seen (the server's ``websocket.close`` or the client's
``websocket.disconnect``) is the connection's, classed into a bounded reason
(:data:`~instrumentation.catalog.WEBSOCKET_CLOSE_REASONS`); a connection closed or denied before
``websocket.accept`` is ``rejected``, and one whose application raised is ``server_error``.

**Route.** Channels' ``URLRouter`` passes the matched route's arguments down in the scope, not
its pattern, so the wrapper finds the first ``URLRouter`` inside what it wraps (following each
middleware's ``inner``) and matches the path against its routes, nested routers included, as
the router itself does, once per connection. ``websocket_route`` is the pattern
(``ws/chat/<str:room>/``), or the consumer's class when the wrapped application is a consumer,
or ``<unmatched>``: a bounded set, never the raw path.

**Capacity.** ``max_connections`` (default :data:`DEFAULT_MAX_CONNECTIONS`) is the number of
connections one process is sized to hold; it is exported as
``fleetobs_websocket_connection_capacity`` (summed over an instance's processes) so the
``FleetobsWebSocketConnectionsNearCapacity`` alert can compare the open connections with it.
It is a measuring stick, not a limit: connections beyond it are still served.

Every telemetry step runs inside the error boundary (:func:`~instrumentation._safety.internal_error`):
a failure costs the connection nothing. Nothing here blocks: counters and the log line are
written in the event loop as the access line is for HTTP requests. With ``METRICS_ENABLED`` off
no metric is recorded; with tracing off no span is made.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from django.urls.exceptions import Resolver404
from opentelemetry.trace import SpanKind
from opentelemetry.trace.status import Status, StatusCode

from instrumentation._safety import internal_error
from instrumentation.catalog import UNMATCHED_ROUTE
from instrumentation.lifecycle import on_reset
from instrumentation.metrics import enabled as metrics_enabled
from instrumentation.metrics import get
from instrumentation.tracing import children, provider
from instrumentation.tracing.trust import resampled

__all__ = ["DEFAULT_MAX_CONNECTIONS", "ObservedWebSockets", "close_reason", "reset"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

#: Connections one process is sized to hold, unless ``max_connections`` says otherwise.
DEFAULT_MAX_CONNECTIONS = 1000
#: How deep the wrapper looks through middleware (``inner``) for the router.
_MAX_DEPTH = 16
_REASONS = {
    1000: "normal",
    1001: "going_away",
    1005: "abnormal",
    1006: "abnormal",
    1002: "protocol_error",
    1003: "protocol_error",
    1007: "protocol_error",
    1009: "protocol_error",
    1010: "protocol_error",
    1008: "policy_violation",
}
#: A client that went away without a close frame (ASGI servers report 1005 or 1006).
_NO_CLOSE_FRAME = 1006

logger = logging.getLogger("fleetobs.websocket")

#: route -> (opened, active, received, sent) counter/gauge children, while metrics are on.
_children: dict[str, tuple[Any, Any, Any, Any]] = {}
#: The metric object the children belong to: a new registry (``metrics.reset``) empties the cache.
_children_of: list[Any] = [None]


def close_reason(code: int | None, accepted: bool = True) -> str:
    """The ``websocket_close_reason`` of close ``code`` (a connection never accepted: ``rejected``)."""
    if not accepted:
        return "rejected"
    if code is None:
        return "abnormal"
    reason = _REASONS.get(code)
    if reason is not None:
        return reason
    if 1011 <= code <= 1015:
        return "server_error"
    if 3000 <= code <= 4999:
        return "application"
    return "other"


@on_reset
def reset() -> None:
    """Forget the cached metric children (tests; a new metrics registry)."""
    _children.clear()
    _children_of[0] = None


def _series(route: str) -> tuple[Any, Any, Any, Any]:
    opened = get("fleetobs_websocket_connections_opened")
    if _children_of[0] is not opened:
        _children.clear()
        _children_of[0] = opened
    found = _children.get(route)
    if found is None:
        found = (
            opened.labels(route),
            get("fleetobs_websocket_connections_active").labels(route),
            get("fleetobs_websocket_messages_received").labels(route),
            get("fleetobs_websocket_messages_sent").labels(route),
        )
        _children[route] = found
    return found


# --- Which route a connection is for -------------------------------------------------------


def _router_in(app: Any) -> Any:
    """The first ``URLRouter`` (anything with ``routes``) in ``app`` or the middleware it wraps."""
    for _ in range(_MAX_DEPTH):
        if app is None:
            return None
        if isinstance(getattr(app, "routes", None), list | tuple):
            return app
        app = getattr(app, "inner", None) or getattr(app, "application", None)
    return None


def _consumer_name(app: Any) -> str | None:
    consumer = getattr(app, "consumer_class", None)
    if consumer is None:
        return None
    return f"{consumer.__module__}.{consumer.__qualname__}"


def _match(router: Any, path: str, depth: int = 0) -> str | None:
    """The route pattern ``router`` would pick for ``path`` (nested routers joined), or ``None``."""

    for route in router.routes:
        try:
            found = route.pattern.match(path)
        except Resolver404:
            continue
        if not found:
            continue
        pattern = str(route.pattern)
        inner = _router_in(route.callback)
        if inner is not None and depth < _MAX_DEPTH:
            rest = _match(inner, found[0], depth + 1)
            if rest is None:
                continue
            return pattern + rest
        return pattern
    return None


def _route(app: Any, scope: Scope) -> str:
    router = _router_in(app)
    if router is None:
        return _consumer_name(app) or UNMATCHED_ROUTE
    path = scope.get("path_remaining", scope.get("path")) or ""
    if "path_remaining" not in scope:
        root = scope.get("root_path") or ""
        if root and path.startswith(root):
            path = path[len(root) :]
    return _match(router, path.lstrip("/")) or UNMATCHED_ROUTE


# --- One connection ------------------------------------------------------------------------


def _span_start(scope: Scope, route: str) -> Any:
    state = provider.ensure()
    if state is None:
        return None
    client = scope.get("client")
    meta: dict[str, Any] = {"REMOTE_ADDR": client[0] if client else ""}
    for name, value in scope.get("headers") or ():
        # as request.META names them (ASGI header names are lower case)
        meta["HTTP_" + bytes(name).decode("latin-1").upper().replace("-", "_")] = bytes(value).decode(
            "latin-1"
        )
    parent, _base = state.extract(meta)
    if parent is not None and state.untrusted is not None and state.untrusted(meta):
        parent = resampled(parent, state.sampler.bound)
    attributes: dict[str, Any] = {
        "network.protocol.name": "websocket",
        "http.route": route,
        "url.scheme": str(scope.get("scheme") or "ws"),
    }
    if client:
        attributes["client.address"] = str(client[0])[:255]
    return children.start_with_parent(state, f"WebSocket {route}", attributes, SpanKind.SERVER, parent)


class _Connection:
    """What is known about one connection, from its messages."""

    __slots__ = (
        "accepted",
        "close_code",
        "closed_by",
        "error",
        "received",
        "route",
        "sent",
        "series",
        "span",
        "start",
    )

    def __init__(self, route: str, series: tuple[Any, Any, Any, Any] | None) -> None:
        self.route = route
        self.series = series
        self.start = time.perf_counter_ns()
        self.span: Any = None
        self.accepted = False
        self.close_code: int | None = None
        self.closed_by: str | None = None
        self.received = 0
        self.sent = 0
        self.error: BaseException | None = None

    def on_receive(self, message: Message) -> None:
        kind = message.get("type")
        if kind == "websocket.receive":
            self.received += 1
            if self.series is not None:
                self.series[2].inc()
        elif kind == "websocket.disconnect" and self.closed_by is None:
            code = message.get("code")
            self.close_code = code if isinstance(code, int) else _NO_CLOSE_FRAME
            self.closed_by = "client"

    def on_send(self, message: Message) -> None:
        kind = message.get("type")
        if kind == "websocket.send":
            self.sent += 1
            if self.series is not None:
                self.series[3].inc()
        elif kind == "websocket.accept":
            if not self.accepted:
                self.accepted = True
                if self.series is not None:
                    self.series[0].inc()
                    self.series[1].inc()
        elif kind == "websocket.close" and self.closed_by is None:
            code = message.get("code")
            self.close_code = code if isinstance(code, int) else 1000
            self.closed_by = "server"
        elif kind == "websocket.http.response.start" and self.closed_by is None:
            self.closed_by = "server"  # the handshake denied with an HTTP response

    def reason(self) -> str:
        if self.error is not None and self.accepted:
            return "server_error"
        return close_reason(self.close_code, self.accepted)

    def finish(self) -> None:
        reason = self.reason()
        duration_ns = time.perf_counter_ns() - self.start
        try:
            if self.series is not None:
                if self.accepted:
                    self.series[1].dec()

                get("fleetobs_websocket_connections_closed").labels(self.route, reason).inc()
        except Exception as exc:  # noqa: BLE001 - telemetry never breaks a connection
            internal_error(exc, "channels.finish.metrics")
        try:  # the log line first, while the connection's span is still current
            self._log(reason, duration_ns)
        except Exception as exc:  # noqa: BLE001
            internal_error(exc, "channels.finish.logging")
        try:
            self._end_span(reason)
        except Exception as exc:  # noqa: BLE001
            internal_error(exc, "channels.finish.tracing")

    def _log(self, reason: str, duration_ns: int) -> None:
        failed = self.error is not None or reason == "server_error"
        level = logging.ERROR if failed else logging.INFO
        if not logger.isEnabledFor(level):
            return
        code = self.close_code
        logger.log(
            level,
            "WebSocket %s closed: %s (%s)",
            self.route,
            reason,
            code if code is not None else "no close code",
            extra={
                "http.route": self.route,
                "event.duration": duration_ns,
                "websocket.close.code": code,
                "websocket.close.reason": reason,
                "websocket.closed_by": self.closed_by or "server",
                "websocket.messages.received": self.received,
                "websocket.messages.sent": self.sent,
            },
        )

    def _end_span(self, reason: str) -> None:
        handle = self.span
        if handle is None:
            return

        self.span = None
        span = handle[0]
        if span.is_recording():
            span.set_attribute("websocket.messages.received", self.received)
            span.set_attribute("websocket.messages.sent", self.sent)
            span.set_attribute("websocket.close.reason", reason)
            if self.close_code is not None:
                span.set_attribute("websocket.close.code", self.close_code)
            if self.error is None and reason == "server_error":
                span.set_status(Status(StatusCode.ERROR))
                span.set_attribute("error.type", str(self.close_code))
        children.end_child(handle, self.error)


def _begin(app: Any, scope: Scope) -> _Connection | None:
    try:
        route = _route(app, scope)
        series = _series(route) if metrics_enabled() else None
        connection = _Connection(route, series)
    except Exception as exc:  # noqa: BLE001
        internal_error(exc, "channels.begin")
        return None
    try:
        connection.span = _span_start(scope, route)
    except Exception as exc:  # noqa: BLE001
        internal_error(exc, "channels.begin.tracing")
    return connection


class ObservedWebSockets:
    """Metrics, a span and a log line per WebSocket connection of the wrapped ASGI application.

    ``inner``: what serves the ``websocket`` scopes, usually ``URLRouter([...])`` (with
    middleware such as ``AuthMiddlewareStack`` around it or not). ``max_connections``: the
    connections one process is sized to hold (see the module's documentation).
    """

    def __init__(self, inner: Any, *, max_connections: int = DEFAULT_MAX_CONNECTIONS) -> None:
        if isinstance(max_connections, bool) or not isinstance(max_connections, int) or max_connections < 1:
            raise ValueError(f"max_connections must be a positive integer, got {max_connections!r}")
        if not callable(inner):
            raise TypeError(f"ObservedWebSockets wraps an ASGI application, got {inner!r}")
        self.inner = inner
        self.max_connections = max_connections
        self._capacity_set = False

    def _set_capacity(self) -> None:
        self._capacity_set = True
        try:
            if metrics_enabled():
                get("fleetobs_websocket_connection_capacity").set(self.max_connections)
        except Exception as exc:  # noqa: BLE001
            internal_error(exc, "channels.capacity")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> Any:
        if scope.get("type") != "websocket":
            return await self.inner(scope, receive, send)
        if not self._capacity_set:
            self._set_capacity()
        connection = _begin(self.inner, scope)
        if connection is None:
            return await self.inner(scope, receive, send)

        async def observed_receive() -> Message:
            message = await receive()
            try:
                connection.on_receive(message)
            except Exception as exc:  # noqa: BLE001
                internal_error(exc, "channels.receive")
            return message

        async def observed_send(message: Message) -> None:
            try:
                connection.on_send(message)
            except Exception as exc:  # noqa: BLE001
                internal_error(exc, "channels.send")
            await send(message)

        try:
            return await self.inner(scope, observed_receive, observed_send)
        except BaseException as exc:
            if isinstance(exc, Exception):  # a cancelled task is the server's shutdown, not an error
                connection.error = exc
            raise
        finally:
            try:
                connection.finish()
            except Exception as exc:  # noqa: BLE001
                internal_error(exc, "channels.finish")
