"""A measuring stick: the least a Python middleware can do for metrics, a trace and a log line.

``MinimalMiddleware`` is not part of this project and not meant for use. It does the bare
minimum of each signal, written as tightly as plain Python allows, so the benchmark can show
what the goals leave room for on the machine that runs it:

* metrics: one latency histogram per method, route and status, in process memory (a lock, a
  bisect and three additions);
* a trace: a trace id and a span id, the start and end times and six attributes, kept as a
  tuple in a bounded queue that nothing reads;
* a log line: the request's ids in a context variable, and one nested JSON access line
  (orjson) to standard output, written in batches of at most 4 KiB;
* the request id in a response header.

Everything a real instrumentation owes its users is left out: spans are never encoded or
exported, and the OpenTelemetry context is not set, so views and libraries cannot parent
their spans or propagate the trace. Incoming trace and request ids are ignored. Metrics are not
shared between worker processes and carry no exemplars. Nothing is redacted, escaped, bounded
or protected by an error boundary. Its cost is a floor, not a competitor.
"""

from __future__ import annotations

import bisect
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from contextvars import ContextVar
from random import getrandbits
from typing import Any

import orjson

_BOUNDS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
_PIPE_BUF = 4096
_STATIC = {
    "ecs": {"version": "8.11.0"},
    "service": {"name": "bench", "version": "1.0.0", "environment": "bench"},
    "process": {"pid": os.getpid()},
}

_context: ContextVar[tuple[str, str, str] | None] = ContextVar("minimal_request", default=None)
_lock = threading.Lock()
_histograms: dict[tuple[str, str, int], list[Any]] = {}
_spans: deque[tuple[Any, ...]] = deque(maxlen=2048)
_pending: list[bytes] = []
_pending_size = [0]


class MinimalMiddleware:
    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        self.get_response = get_response

    def __call__(self, request: Any) -> Any:
        start = time.perf_counter_ns()
        wall = time.time_ns()
        trace_id = getrandbits(128)
        span_id = getrandbits(64)
        request_id = getrandbits(128).to_bytes(16, "big").hex()
        trace_hex = trace_id.to_bytes(16, "big").hex()
        span_hex = span_id.to_bytes(8, "big").hex()
        token = _context.set((request_id, trace_hex, span_hex))
        try:
            response = self.get_response(request)
        finally:
            _context.reset(token)
        duration = time.perf_counter_ns() - start
        match = request.resolver_match
        route = match.route if match is not None else ""
        method = request.method
        status = response.status_code
        path = request.path

        histogram = _histograms.get((method, route, status))
        if histogram is None:
            histogram = _histograms[(method, route, status)] = [0.0, [0] * (len(_BOUNDS) + 1), 0]
        seconds = duration / 1e9
        with _lock:
            histogram[0] += seconds
            histogram[1][bisect.bisect_left(_BOUNDS, seconds)] += 1
            histogram[2] += 1

        meta = request.META
        agent = meta.get("HTTP_USER_AGENT")
        client = meta.get("REMOTE_ADDR")
        _spans.append((trace_id, span_id, wall, wall + duration, method, route, status, path, agent, client))
        response.headers["X-Request-ID"] = request_id

        line = orjson.dumps(
            {
                "@timestamp": wall // 1_000_000,
                "log": {"level": "info", "logger": "access"},
                "message": f"{method} {path} {status}",
                **_STATIC,
                "event": {"dataset": "django.access", "duration": duration},
                "http": {
                    "request": {"id": request_id, "method": method},
                    "response": {"status_code": status},
                    "route": route,
                },
                "url": {"path": path},
                "trace": {"id": trace_hex},
                "span": {"id": span_hex},
                "client": {"ip": client},
                "user_agent": {"original": agent},
            },
            option=orjson.OPT_APPEND_NEWLINE,
        )
        with _lock:
            if _pending_size[0] + len(line) > _PIPE_BUF:
                _write_pending()
            _pending.append(line)
            _pending_size[0] += len(line)
        return response


def _write_pending() -> None:
    os.write(1, b"".join(_pending))
    _pending.clear()
    _pending_size[0] = 0


def flush() -> None:
    """Write the pending lines (the benchmark's probe counts them)."""
    with _lock:
        if _pending:
            _write_pending()
