"""``ObservabilityMiddleware``: one pass per request that feeds metrics, traces and logs.

Put it first in ``MIDDLEWARE`` so it times everything, sees every response (including those
other middleware return early) and runs its bookkeeping last. The route is read from the
resolver match Django already computed (``request.resolver_match.route``), never resolved again,
unless a route name replaces it (:mod:`instrumentation.routes`). Once Django has resolved the
URL (``process_view``), the path segments captured by URL parameters named like credentials
(``reset/<uidb64>/<token>/``) are masked in the log context and on the span, once per request
(:func:`instrumentation._request.masked_path`). Each signal is called through the error boundary:
a telemetry failure costs the request nothing. Sync and async requests take the same steps
(``__call__`` / ``__acall__``).

**Streamed responses** (files, ``StreamingHttpResponse`` with a sync or async iterator,
server-sent events) are measured twice, because they have two ends:

* when the view's response reaches the middleware (the response starts), as for any other
  response: ``http_server_request_duration_seconds``, the status the view chose and the server
  span. This is the time the application took to answer, the one latency SLOs and alerts are
  about: an event stream open for ten minutes is not a slow request.
* when the server has sent the last byte, or closed the response early
  (:mod:`instrumentation._body`): the body size (``http_server_response_body_size_bytes``), the
  duration to the last byte (``fleetobs_http_server_stream_duration_seconds``) and the access
  line, whose ``event.duration`` is then the duration to the last byte (as nginx's
  ``$request_time``). A client that went away before the last byte (the server closed the
  iterator early, or cancelled the async one) is counted with status 499
  (:data:`~instrumentation.catalog.CLIENT_CLOSED_REQUEST`) in both, and the access line is a
  warning; an iterator that raised keeps the status sent and its access line names the error.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable
from random import getrandbits
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponseBase

from instrumentation import _body as body
from instrumentation import conf, db, routes, tracing
from instrumentation import logging as fleet_logging
from instrumentation._body import no_body
from instrumentation._headers import set_header
from instrumentation._request import RequestInfo, masked_path, request_method, sensitive_routes
from instrumentation._safety import internal_error
from instrumentation.catalog import CLIENT_CLOSED_REQUEST, UNMATCHED_ROUTE
from instrumentation.lifecycle import on_reset
from instrumentation.logging import request_lines as log_context
from instrumentation.logging import route_masking as log_masking
from instrumentation.metrics import http, runtime
from instrumentation.metrics.registry import get
from instrumentation.tracing import route_masking as span_masking

_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")
_STATE_ATTRIBUTE = "_fleetobs_state"


class _RequestState:
    __slots__ = (
        "exception",
        "info",
        "log_token",
        "path_checked",
        "queries",
        "queries_token",
        "settings",
        "span",
        "start",
    )

    def __init__(self, start: int, settings: conf.Settings, info: RequestInfo) -> None:
        self.start = start
        self.settings = settings
        self.info = info
        self.exception: BaseException | None = None
        self.span: Any = None
        self.log_token: Any = None
        self.queries: db.RequestQueries | None = None
        self.queries_token: Any = None
        self.path_checked = False


def _request_id(request: HttpRequest, header_key: str) -> str:
    incoming = request.META.get(header_key)
    if incoming and _VALID_REQUEST_ID.fullmatch(incoming):
        return str(incoming)
    # A correlation id, not a secret: the per-process PRNG (reseeded after fork) is plenty.
    return getrandbits(128).to_bytes(16, "big").hex()


def _route(request: HttpRequest, settings: conf.Settings) -> str:
    match = getattr(request, "resolver_match", None)
    if match is None:
        return UNMATCHED_ROUTE
    route = getattr(match, "route", None) or UNMATCHED_ROUTE
    return routes.names_for(settings).name(request, match, route)


def _request_bytes(request: HttpRequest) -> int:
    """The request body's size: its Content-Length, or, under ASGI, what was received without one
    (a chunked upload, an HTTP/2 stream), which Django's handler has all received before the
    view runs; measured without moving the stream the view reads from."""
    length = request.META.get("CONTENT_LENGTH")
    if not length:
        return _received_bytes(request) if "wsgi.input" not in request.META else 0
    try:
        return max(0, int(length))
    except ValueError:
        return 0


def _received_bytes(request: HttpRequest) -> int:
    stream = getattr(request, "_stream", None)  # ASGIRequest: the spooled body, all received
    seek = getattr(stream, "seek", None)
    if seek is None:
        return 0
    try:
        position = stream.tell()  # type: ignore[union-attr]
        end = int(seek(0, 2))
        seek(position)
    except (OSError, ValueError, TypeError):
        return 0
    return max(0, end)


class _Deferred:
    """The end of a streamed response's request, once its body is sent (:mod:`._body`)."""

    __slots__ = ("ctx", "info", "measured", "request", "start")

    def __init__(self, request: HttpRequest, info: RequestInfo, measured: bool, ctx: Any, start: int) -> None:
        self.request = request
        self.info = info
        self.measured = measured
        self.ctx = ctx
        self.start = start

    def __call__(
        self, sent: int | None, outcome: body.Outcome = "complete", error: BaseException | None = None
    ) -> None:
        info = self.info
        sent_status = info.status
        info.response_bytes = sent
        if sent is not None:  # the body was metered: its last byte (or the disconnect) is now
            info.duration_ns = time.perf_counter_ns() - self.start
        if outcome == "disconnected":
            info.status = CLIENT_CLOSED_REQUEST
        elif error is not None and info.exception is None:
            info.exception = error
        try:
            if self.measured and sent is not None:
                http.observe_response_size(info.method, info.route, sent_status, sent)
                http.observe_stream(info.method, info.route, info.status, info.duration_ns / 1e9)
        except Exception as exc:  # noqa: BLE001
            internal_error(exc, "middleware.body.metrics")
        try:
            log_context.write_access_line(self.request, info, self.ctx)
        except Exception as exc:  # noqa: BLE001
            internal_error(exc, "middleware.body.logging")


def _begin(request: HttpRequest) -> _RequestState:
    start = time.perf_counter_ns()
    settings = conf.get_settings()
    raw_method = request.method or ""
    # The request's facts, learned once here and read by every signal from now on.
    info = RequestInfo(
        request_method(raw_method),
        UNMATCHED_ROUTE,
        0,
        0,
        _request_bytes(request),
        None,
        _request_id(request, _meta_key(settings.request_id_header)),
        method_original=raw_method,
    )
    state = _RequestState(start, settings, info)
    setattr(request, _STATE_ATTRIBUTE, state)
    try:
        if settings.metrics_enabled:
            runtime.ensure_sampler()
            http.active_requests().inc()
        state.queries, state.queries_token = db.begin_request()
    except Exception as exc:  # noqa: BLE001 - telemetry never breaks a request
        internal_error(exc, "middleware.begin.metrics")
    try:
        state.span = tracing.start_request(request, info)
    except Exception as exc:  # noqa: BLE001
        internal_error(exc, "middleware.begin.tracing")
    try:
        span = state.span
        # the ids of the span just started, without looking it up in the context again
        ids = log_context.CURRENT if span is None else tracing.request_ids(span)
        state.log_token = fleet_logging.begin_request(request, info.request_id, ids, info)
    except Exception as exc:  # noqa: BLE001
        internal_error(exc, "middleware.begin.logging")
    return state


def _mask_path(request: HttpRequest, state: _RequestState) -> None:
    """Mask credentials the resolved URL's parameters put in the path (once per request)."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        return
    state.path_checked = True
    try:
        raw = request.path
        masked = masked_path(raw, match, sensitive_routes(state.settings))
        if masked is not None:
            log_masking.mask_path(request, masked)
            span_masking.mask_path(state.span, raw, masked)
    except Exception as exc:  # noqa: BLE001
        internal_error(exc, "middleware.mask_path")


def _resolved(request: HttpRequest) -> None:
    state = getattr(request, _STATE_ATTRIBUTE, None)
    if state is not None and not state.path_checked:
        _mask_path(request, state)


def _finish(
    request: HttpRequest,
    state: _RequestState,
    response: HttpResponseBase | None,
    raised: BaseException | None,
) -> None:
    """Complete the request's facts, then hand them to each signal's finisher in turn."""
    info = state.info
    info.duration_ns = time.perf_counter_ns() - state.start
    if not state.path_checked:  # no process_view: another view middleware answered first
        _mask_path(request, state)
    info.route = _route(request, state.settings)
    info.status = response.status_code if response is not None else 500
    info.exception = raised or state.exception
    streamed = False
    if response is not None:
        if no_body(info.method, info.status):
            info.response_bytes = 0
        elif response.streaming:
            streamed = True  # counted as the server sends it (see _finish_logs)
        else:
            info.response_bytes = len(response.content)  # type: ignore[attr-defined]
    _finish_metrics(state, info)
    if response is not None:
        try:
            set_header(response, state.settings.request_id_header, info.request_id)
        except Exception as exc:  # noqa: BLE001
            internal_error(exc, "middleware.finish.header")
    _finish_logs(request, state, info, response if streamed else None)
    _finish_trace(request, state, info, response)


def _finish_metrics(state: _RequestState, info: RequestInfo) -> None:
    """Request metrics, the request's query count and its N+1 report."""
    settings = state.settings
    route = info.route
    queries = state.queries
    try:
        if state.queries_token is not None:
            db.end_request(state.queries_token)
        if settings.metrics_enabled:
            http.active_requests().dec()
            if route not in settings.metrics_excluded:
                http.observe(
                    info.method,
                    route,
                    info.status,
                    info.duration_ns / 1e9,
                    info.request_bytes,
                    info.response_bytes,
                    tracing.sampled_trace_id(state.span) if settings.exemplars_enabled else None,
                )
                exception = info.exception
                if exception is not None and info.status >= 500:
                    get("fleetobs_http_server_exceptions").labels(route, type(exception).__name__).inc()
                if queries is not None:
                    per_request, _ = http.route_series(route)
                    per_request.observe(queries.count)
        repeated = queries.repeated(settings.n_plus_one_threshold) if queries is not None else None
        if repeated is not None and route not in settings.metrics_excluded:
            statement, count = repeated
            if settings.metrics_enabled:
                http.route_series(route)[1].inc()
            shown = db.statement_info(statement)[1]
            tracing.add_event(
                "n_plus_one", {"db.query.text": shown, "db.query.count": count, "http.route": route}
            )
            fleet_logging.log_n_plus_one(route, shown, count)
    except Exception as exc:  # noqa: BLE001
        internal_error(exc, "middleware.finish.metrics")


def _finish_logs(
    request: HttpRequest, state: _RequestState, info: RequestInfo, streamed: HttpResponseBase | None
) -> None:
    """The access line, now; or, for a ``streamed`` response, once its body is sent."""
    try:
        if streamed is None:
            fleet_logging.finish_request(state.log_token, request, info)
            return
        settings = state.settings
        measured = settings.metrics_enabled and info.route not in settings.metrics_excluded
        ctx = log_context.end_request(state.log_token)
        deferred = _Deferred(request, info, measured, ctx, state.start)
        if body.meter(request, streamed, deferred) is None:
            deferred(None)  # not a streamed response Django built: its size is unknown
    except Exception as exc:  # noqa: BLE001
        internal_error(exc, "middleware.finish.logging")


def _finish_trace(
    request: HttpRequest, state: _RequestState, info: RequestInfo, response: HttpResponseBase | None
) -> None:
    """End the server span with the route, the status and the exception."""
    try:
        if info.exception is not None and state.span is not None:
            tracing.record_exception(state.span, info.exception)
        tracing.finish_request(state.span, request, info.route, info.status, response)
    except Exception as exc:  # noqa: BLE001
        internal_error(exc, "middleware.finish.tracing")


_meta_keys: dict[str, str] = {}


@on_reset
def reset() -> None:
    """Forget the cached header keys."""
    _meta_keys.clear()


def _meta_key(header: str) -> str:
    key = _meta_keys.get(header)
    if key is None:
        key = _meta_keys[header] = "HTTP_" + header.upper().replace("-", "_")
    return key


class ObservabilityMiddleware:
    """Metrics, traces and logs for every request, in one middleware (put it first)."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            markcoroutinefunction(self)
            # Django would run a sync process_view in a thread for every async request.
            setattr(self, "process_view", self._aprocess_view)  # noqa: B010 - replaces the method

    def __call__(self, request: HttpRequest) -> Any:
        if self.async_mode:
            return self.__acall__(request)
        state = _begin(request)
        try:
            response = self.get_response(request)
        except BaseException as exc:
            _finish(request, state, None, exc)
            raise
        _finish(request, state, response, None)
        return response

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        state = _begin(request)
        get_response: Callable[[HttpRequest], Awaitable[HttpResponseBase]] = self.get_response
        try:
            response = await get_response(request)
        except BaseException as exc:
            _finish(request, state, None, exc)
            raise
        _finish(request, state, response, None)
        return response

    def process_view(self, request: HttpRequest, view: Any, args: Any, kwargs: Any) -> None:
        """The URL is resolved: mask the credentials its parameters put in the path."""
        _resolved(request)

    async def _aprocess_view(self, request: HttpRequest, view: Any, args: Any, kwargs: Any) -> None:
        _resolved(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> None:
        """Remember the view's exception; Django turns it into a response further in."""
        state = getattr(request, _STATE_ATTRIBUTE, None)
        if state is not None:
            state.exception = exception
