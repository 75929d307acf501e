"""The request hot path: RED metrics per route with exemplars, from pre-built label children.

``observe`` runs once per request. Everything that can be computed once per label set (the
prometheus_client children, the exemplar keys of every bucket) is cached in a dict keyed by
``(method, route, status)``; a request then costs a dict lookup and the value writes. A streamed
response's body size and its duration to the last byte come later, once it is sent
(:func:`observe_response_size`, :func:`observe_stream`).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Any

from prometheus_client.utils import floatToGoString

from instrumentation._process import multiprocess_dir
from instrumentation.catalog import metric
from instrumentation.lifecycle import on_reset
from instrumentation.metrics import exemplars, fast
from instrumentation.metrics.registry import get, is_multiprocess

DURATION = "http_server_request_duration_seconds"
_BUCKET_SERIES = f"{DURATION}_bucket"
_BOUNDS = metric(DURATION).buckets


@dataclass(slots=True)
class _Series:
    duration: Any
    request_size: Any
    response_size: Any
    exemplar_keys: tuple[exemplars.ExemplarKey, ...]


_series: dict[tuple[str, str, int], _Series] = {}
_route_series: dict[str, tuple[Any, Any]] = {}
_streams: dict[tuple[str, str, int], Any] = {}
#: The multiprocess directory (``None``: single process), read on first use.
_directory: str | None = None
_directory_read = False
_active: Any = None


def _build(method: str, route: str, status: int) -> _Series:
    status_text = str(status)
    labels = {"http_request_method": method, "http_route": route, "http_response_status_code": status_text}
    keys = tuple(
        (_BUCKET_SERIES, tuple(sorted({**labels, "le": floatToGoString(bound)}.items())))
        for bound in (*_BOUNDS, float("inf"))
    )
    series = _Series(
        duration=fast.wrap(get(DURATION).labels(method, route, status_text)),
        request_size=fast.wrap(get("http_server_request_body_size_bytes").labels(method, route)),
        response_size=fast.wrap(get("http_server_response_body_size_bytes").labels(method, route)),
        exemplar_keys=keys,
    )
    _series[(method, route, status)] = series
    return series


def _multiprocess_directory() -> str | None:
    global _directory, _directory_read
    if not _directory_read:
        _directory = multiprocess_dir() if is_multiprocess() else None
        _directory_read = True
    return _directory


def observe(
    method: str,
    route: str,
    status: int,
    seconds: float,
    request_bytes: int,
    response_bytes: int | None,
    trace_id: str | None,
) -> None:
    """Record one served request."""
    series = _series.get((method, route, status)) or _build(method, route, status)
    if trace_id is None:
        series.duration.observe(seconds)
    else:
        directory = _multiprocess_directory()
        if directory is None:
            series.duration.observe_with_trace(seconds, trace_id)
        else:
            series.duration.observe(seconds)
            exemplars.record(series.exemplar_keys[bisect.bisect_left(_BOUNDS, seconds)], trace_id, seconds)
            exemplars.ensure_flusher(directory)
    if request_bytes:  # most requests have no body: nothing to size
        series.request_size.observe(request_bytes)
    if response_bytes is not None:
        series.response_size.observe(response_bytes)


def observe_response_size(method: str, route: str, status: int, response_bytes: int) -> None:
    """Record the body size of a request :func:`observe` recorded without one (a streamed body,
    measured once the server has sent it)."""
    series = _series.get((method, route, status)) or _build(method, route, status)
    series.response_size.observe(response_bytes)


def observe_stream(method: str, route: str, status: int, seconds: float) -> None:
    """Record a streamed response's duration to its last byte (``status`` 499: the client left)."""
    key = (method, route, status)
    child = _streams.get(key)
    if child is None:
        child = _streams[key] = fast.wrap(
            get("fleetobs_http_server_stream_duration_seconds").labels(method, route, str(status))
        )
    child.observe(seconds)


def active_requests() -> Any:
    """The in-flight requests gauge, with cheap ``inc()`` / ``dec()``."""
    global _active
    if _active is None:
        _active = fast.wrap_gauge(get("http_server_active_requests"))
    return _active


def route_series(route: str) -> tuple[Any, Any]:
    """The per-route queries-per-request histogram (``observe``) and N+1 counter (``inc``)."""
    found = _route_series.get(route)
    if found is None:
        found = (
            fast.wrap(get("fleetobs_db_queries_per_request").labels(route)),
            get("fleetobs_db_n_plus_one").labels(route),
        )
        _route_series[route] = found
    return found


@on_reset
def reset() -> None:
    global _directory, _directory_read, _active
    _series.clear()
    _route_series.clear()
    _streams.clear()
    _directory = None
    _directory_read = False
    _active = None
