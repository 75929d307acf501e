"""Export: a bounded span queue per process, drained by one export thread started on first use.

::

    request thread                              export thread (one per process, lazy)
    FastSpan.end() / SDK span on_end()          wait(schedule_delay) or woken at batch_size
      -> SpanBatcher.enqueue(span)              pop <= batch_size spans
           len(queue) >= max -> dropped++       OtlpHttpExporter: encode (otlp.py) with this
           else deque.append (no lock)            process's resource, POST (transport.py)
                                                SdkExporter (gRPC, tests): convert, SDK export
                                                -> exported++ | export_failures++, dropped++

Why not the SDK's ``BatchSpanProcessor``: it starts its thread in the constructor (before a
preforking server forks), its ``force_flush`` exports on the caller's thread, and it does not
count what it drops. Here the request thread only ever appends to a ``collections.deque``; it
never takes a lock, never waits, never does I/O. The thread, the exporter (its HTTP session or
gRPC channel) and the per-process resource are created lazily in the process that uses them,
and ``os.register_at_fork`` forgets them in a forked child, so gunicorn with and without
``--preload`` (and Celery's prefork pool) get one working pipeline per worker.

Counters (``fleetobs_telemetry_*{signal="spans"}``): ``exported`` per span accepted by the
backend, ``export_failures`` per failed export call, ``dropped{reason}`` per span lost:
``queue_full`` (the backend is slower than the traffic), ``export_failed`` (the batch was
refused or timed out), ``rejected`` (the collector's partial-success count), ``shutdown``
(ended after :meth:`SpanBatcher.shutdown`).

The exporter's own timeout (``SPAN_EXPORT_TIMEOUT``, including its retries) bounds how long a
down, blackholed or slow collector can hold the export thread; meanwhile the queue fills and
drops are counted, while requests are unaffected.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY, Context, attach, set_value
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.util.re import parse_env_headers

from instrumentation import metrics
from instrumentation.conf import Settings
from instrumentation.tracing import otlp
from instrumentation.tracing.resource import process_resource
from instrumentation.tracing.spans import FastSpan, copy_with_resource, redact_sdk_span
from instrumentation.tracing.transport import ExportError, OtlpHttpSender

logger = logging.getLogger("fleetobs.tracing")

DEFAULT_HTTP_ENDPOINT = "http://localhost:4318/v1/traces"
DEFAULT_GRPC_ENDPOINT = "http://localhost:4317"
_EXPORTER_LOGGERS = (
    "opentelemetry.exporter.otlp.common.http",
    "opentelemetry.exporter.otlp.proto.http.trace_exporter",
    "opentelemetry.exporter.otlp.proto.grpc.exporter",
    "opentelemetry.exporter.otlp.proto.grpc.trace_exporter",
)


class BatchExporter(Protocol):
    """What the export thread calls: export a batch (raise on failure), return spans rejected."""

    def export(
        self, batch: Sequence[FastSpan | ReadableSpan], resource: Resource, scope: InstrumentationScope
    ) -> int: ...

    def shutdown(self) -> None: ...


class _OncePerMinute(logging.Filter):
    """Let each distinct exporter message through once a minute, not once per batch."""

    def __init__(self) -> None:
        super().__init__()
        self._seen: dict[tuple[str, object], float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, record.msg)
        now = time.monotonic()
        if now - self._seen.get(key, -1e9) < 60.0:
            return False
        if len(self._seen) > 256:
            self._seen.clear()
        self._seen[key] = now
        return True


_log_filter = _OncePerMinute()


def _quiet_exporter_logs() -> None:
    for name in _EXPORTER_LOGGERS:
        target = logging.getLogger(name)
        if _log_filter not in target.filters:
            target.addFilter(_log_filter)


class SdkExporter:
    """Adapts an SDK ``SpanExporter`` (gRPC, in-memory, user supplied): converts, then exports."""

    def __init__(self, exporter: SpanExporter) -> None:
        self.exporter = exporter

    def export(
        self, batch: Sequence[FastSpan | ReadableSpan], resource: Resource, scope: InstrumentationScope
    ) -> int:
        spans = [
            span.to_readable(resource, scope)
            if isinstance(span, FastSpan)
            else copy_with_resource(span, resource)
            for span in batch
        ]
        if self.exporter.export(spans) is not SpanExportResult.SUCCESS:
            raise ExportError("exporter reported failure", retryable=False)
        return 0

    def shutdown(self) -> None:
        self.exporter.shutdown()


class Sender(Protocol):
    """Sends one encoded ``ExportTraceServiceRequest``; returns the response body."""

    def send(self, body: bytes) -> bytes: ...

    def close(self) -> None: ...


class OtlpHttpExporter:
    """OTLP/HTTP protobuf with our encoder and transport (the default)."""

    def __init__(self, sender: Sender) -> None:
        self.sender = sender
        self._resource: Resource | None = None
        self._resource_field = b""

    def export(
        self, batch: Sequence[FastSpan | ReadableSpan], resource: Resource, scope: InstrumentationScope
    ) -> int:
        if resource is not self._resource:
            self._resource = resource
            self._resource_field = otlp.encode_resource(resource)
        answer = self.sender.send(otlp.encode_request(batch, self._resource_field, scope))
        return _rejected(answer)

    def shutdown(self) -> None:
        self.sender.close()


def _rejected(answer: bytes) -> int:
    """``partial_success.rejected_spans`` of an ``ExportTraceServiceResponse`` (0 when absent)."""
    if not answer:
        return 0
    try:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

        return int(ExportTraceServiceResponse.FromString(answer).partial_success.rejected_spans)
    except Exception:  # noqa: BLE001 - an unreadable answer to a 2xx is still a success
        return 0


def _insecure_from_environment() -> bool:
    environ = os.environ
    value = environ.get("OTEL_EXPORTER_OTLP_TRACES_INSECURE") or environ.get("OTEL_EXPORTER_OTLP_INSECURE")
    return (value or "").strip().lower() == "true"


def create_exporter(settings: Settings) -> BatchExporter:
    """The OTLP exporter the settings ask for: HTTP/protobuf by default, gRPC on request."""
    headers = dict(parse_env_headers(settings.otlp_headers, liberal=True)) if settings.otlp_headers else None
    timeout = settings.span_export_timeout
    if settings.otlp_protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

        _quiet_exporter_logs()
        endpoint = settings.otlp_endpoint or DEFAULT_GRPC_ENDPOINT
        if endpoint.endswith("/v1/traces"):  # the generic OTLP endpoint with the HTTP path appended
            endpoint = endpoint[: -len("/v1/traces")]
        insecure = not endpoint.startswith("https://") or _insecure_from_environment()
        return SdkExporter(
            GrpcExporter(endpoint=endpoint, insecure=insecure, headers=headers, timeout=timeout)
        )
    return OtlpHttpExporter(OtlpHttpSender(settings.otlp_endpoint or DEFAULT_HTTP_ENDPOINT, headers, timeout))


class FanOut:
    """Several exporters (``OTEL_TRACES_EXPORTER=otlp,console``): each gets every batch; the
    first failure is raised after all were tried; rejections are the largest any reported."""

    def __init__(self, exporters: Sequence[BatchExporter]) -> None:
        self.exporters = list(exporters)

    def export(
        self, batch: Sequence[FastSpan | ReadableSpan], resource: Resource, scope: InstrumentationScope
    ) -> int:
        rejected = 0
        failure: BaseException | None = None
        for exporter in self.exporters:
            try:
                rejected = max(rejected, exporter.export(batch, resource, scope))
            except Exception as exc:  # noqa: BLE001 - the others still get the batch
                failure = failure or exc
        if failure is not None:
            raise failure
        return rejected

    def shutdown(self) -> None:
        for exporter in self.exporters:
            with contextlib.suppress(Exception):
                exporter.shutdown()


def exporter_names(settings: Settings) -> list[str]:
    """``TRACES_EXPORTER`` (``OTEL_TRACES_EXPORTER``) as a list of known names, ``none`` removed."""
    names = [part.strip().lower() for part in settings.traces_exporter.split(",") if part.strip()]
    return [name for name in names if name in {"otlp", "console"}]


def create_exporters(settings: Settings) -> BatchExporter:
    """The exporters ``TRACES_EXPORTER`` names: OTLP (when an endpoint is set) and/or console."""
    exporters: list[BatchExporter] = []
    names = exporter_names(settings)
    if "otlp" in names and settings.otlp_endpoint:
        exporters.append(create_exporter(settings))
    if "console" in names:
        import sys

        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        # sys.stdout as it is now, not as it was when the SDK was imported (its default).
        exporters.append(SdkExporter(ConsoleSpanExporter(out=sys.stdout)))
    return exporters[0] if len(exporters) == 1 else FanOut(exporters)


def _count(name: str, labels: tuple[str, ...], amount: float = 1) -> None:
    """Increment a pipeline counter; metrics problems never reach the tracing pipeline."""
    metrics.count(name, labels, amount)


_live: weakref.WeakSet[SpanBatcher] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for batcher in list(_live):
        batcher.after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)


class SpanBatcher(SpanProcessor):
    """A bounded queue of ended spans and the thread that exports them in batches.

    It is also an SDK ``SpanProcessor``, so spans made through the SDK tracer provider
    (outgoing HTTP instrumentations, user code) share the queue with our own ``FastSpan``\\s.
    With ``synchronous=True`` (tests) each span is exported on the thread that ends it.
    """

    def __init__(
        self,
        exporter_factory: Callable[[], BatchExporter],
        base_resource: Resource,
        scope: InstrumentationScope,
        *,
        max_queue_size: int = 2048,
        max_batch_size: int = 512,
        schedule_delay: float = 1.0,
        synchronous: bool = False,
    ) -> None:
        self._exporter_factory = exporter_factory
        self._base_resource = base_resource
        self._scope = scope
        self._max_queue = max_queue_size
        self._batch = max(1, min(max_batch_size, max_queue_size))
        self._delay = schedule_delay
        self._synchronous = synchronous
        self._queue: collections.deque[FastSpan | ReadableSpan] = collections.deque()
        self._init_process_state()
        self._stopped = False
        self._last_error_log = -1e9
        _live.add(self)

    def _init_process_state(self) -> None:
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._idle = threading.Condition(self._lock)
        self._thread: threading.Thread | None = None
        self._exporter: BatchExporter | None = None
        self._resource: Resource | None = None
        self._exporting = 0

    def after_fork(self) -> None:
        """In a forked child: forget the parent's thread, exporter, resource and queued spans."""
        self._init_process_state()
        self._queue.clear()

    # -- request threads -----------------------------------------------------------------------
    def enqueue(self, span: FastSpan | ReadableSpan) -> None:
        if self._stopped:
            _count("fleetobs_telemetry_dropped", ("spans", "shutdown"))
            return
        if self._synchronous:
            self._export([span])
            return
        queue = self._queue
        if len(queue) >= self._max_queue:
            _count("fleetobs_telemetry_dropped", ("spans", "queue_full"))
            return
        queue.append(span)
        if self._thread is None:
            self._start()
        if len(queue) >= self._batch and not self._wake.is_set():
            self._wake.set()

    def on_start(self, span: Any, parent_context: Context | None = None) -> None:
        return None

    def on_end(self, span: ReadableSpan) -> None:
        context = span.context
        if context is not None and context.trace_flags.sampled:
            # Spans of application code and contrib instrumentations: their exception events
            # (rare: errors only) get the redaction this project's own spans get. This runs in
            # the application's `with` block: it must not raise, and unredacted is never sent.
            try:
                span = redact_sdk_span(span)
            except Exception:
                logger.exception("fleetobs: a span could not be redacted; it is dropped")
                return
            self.enqueue(span)

    # -- the export thread ---------------------------------------------------------------------
    def _start(self) -> None:
        with self._lock:
            if self._thread is None and not self._stopped:
                thread = threading.Thread(target=self._run, name="fleetobs-span-export", daemon=True)
                thread.start()
                self._thread = thread

    def _process_resource(self) -> Resource:
        resource = self._resource
        if resource is None:
            resource = self._resource = process_resource(self._base_resource)
        return resource

    def _run(self) -> None:
        # Our own export requests must not be traced by the HTTP client instrumentations.
        attach(set_value(_SUPPRESS_INSTRUMENTATION_KEY, True))
        while True:
            self._wake.wait(self._delay)
            self._wake.clear()
            try:
                self._drain()
            except Exception:  # the thread must outlive any bug, or spans would pile up unseen
                logger.exception("fleetobs: span export thread error")
            if self._stopped:
                with contextlib.suppress(Exception):
                    self._drain()
                return

    def _drain(self) -> None:
        queue = self._queue
        while queue:
            # Counted as exporting before the first pop, so force_flush never sees a gap.
            with self._lock:
                self._exporting += 1
            try:
                batch: list[FastSpan | ReadableSpan] = []
                try:
                    while len(batch) < self._batch:
                        batch.append(queue.popleft())
                except IndexError:
                    pass
                if batch:
                    self._export(batch)
            finally:
                with self._lock:
                    self._exporting -= 1
                    self._idle.notify_all()

    def _export(self, batch: Sequence[FastSpan | ReadableSpan]) -> None:
        count = len(batch)
        try:
            exporter = self._exporter
            if exporter is None:
                exporter = self._exporter = self._exporter_factory()
            rejected = min(count, max(0, exporter.export(batch, self._process_resource(), self._scope)))
        except ExportError as exc:
            self._failed(count, exc)
            return
        except Exception as exc:  # noqa: BLE001 - a broken exporter must not kill the thread
            self._failed(count, exc)
            return
        if count - rejected:
            _count("fleetobs_telemetry_exported", ("spans",), count - rejected)
        if rejected:
            _count("fleetobs_telemetry_dropped", ("spans", "rejected"), rejected)

    def _failed(self, count: int, exc: BaseException) -> None:
        _count("fleetobs_telemetry_export_failures", ("spans",))
        _count("fleetobs_telemetry_dropped", ("spans", "export_failed"), count)
        now = time.monotonic()
        if now - self._last_error_log >= 60.0:
            self._last_error_log = now
            logger.warning(
                "fleetobs: could not export %d spans: %s (repeats are not logged for 60 s)", count, exc
            )

    # -- flushing ------------------------------------------------------------------------------
    def queued(self) -> int:
        """Spans waiting for export (for tests and diagnostics)."""
        return len(self._queue)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Wake the export thread and wait (at most ``timeout_millis``) until the queue is empty."""
        if self._synchronous or (self._thread is None and not self._queue):
            return True
        if self._thread is None:
            self._start()
        deadline = time.monotonic() + timeout_millis / 1000
        self._wake.set()
        with self._idle:
            while self._queue or self._exporting:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._wake.set()
                self._idle.wait(min(remaining, 0.05))
        return True

    def shutdown(self, timeout: float = 10.0) -> None:
        """Export what is queued (bounded by ``timeout`` seconds) and stop the thread."""
        if self._stopped:
            return
        self._stopped = True
        thread = self._thread
        if thread is not None:
            self._wake.set()
            thread.join(timeout)
        elif self._queue:
            self._drain()
        exporter = self._exporter
        if exporter is not None:
            try:
                exporter.shutdown()
            except Exception:
                logger.debug("fleetobs: exporter shutdown failed", exc_info=True)
        _live.discard(self)
