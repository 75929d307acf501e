"""A real OTLP/HTTP receiver for tests, and the broken collectors the fault tests need.

:class:`OtlpReceiver` is a threaded HTTP server on 127.0.0.1 that accepts
``POST /v1/traces`` bodies, decodes them as ``ExportTraceServiceRequest`` with the
``opentelemetry-proto`` package (gzip understood) and keeps every span as a
:class:`ReceivedSpan`. Its ``mode`` switches between answering ``ok``, failing with ``503``
and answering ``slow``\\ly. :class:`Blackhole` accepts TCP connections and never answers
(``tests.support.procs.free_port()`` gives a port nothing listens on).
"""

from __future__ import annotations

import contextlib
import gzip
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span as SpanProto
from opentelemetry.proto.trace.v1.trace_pb2 import Status as StatusProto


def any_value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return {item.key: any_value(item.value) for item in value.kvlist_value.values}
    return getattr(value, kind)


@dataclass
class ReceivedSpan:
    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    kind: str
    attributes: dict[str, Any]
    events: list[tuple[str, dict[str, Any]]]
    status: str
    resource: dict[str, Any]
    scope: str
    trace_state: str
    flags: int
    start_ns: int
    end_ns: int
    dropped_attributes: int = 0
    dropped_events: int = 0


def decode(body: bytes) -> list[ReceivedSpan]:
    request = ExportTraceServiceRequest.FromString(body)
    spans = []
    for resource_spans in request.resource_spans:
        resource = {kv.key: any_value(kv.value) for kv in resource_spans.resource.attributes}
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                spans.append(
                    ReceivedSpan(
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_span_id=span.parent_span_id.hex() or None,
                        name=span.name,
                        kind=SpanProto.SpanKind.Name(span.kind).removeprefix("SPAN_KIND_"),
                        attributes={kv.key: any_value(kv.value) for kv in span.attributes},
                        events=[
                            (event.name, {kv.key: any_value(kv.value) for kv in event.attributes})
                            for event in span.events
                        ],
                        status=StatusProto.StatusCode.Name(span.status.code).removeprefix("STATUS_CODE_"),
                        resource=resource,
                        scope=scope_spans.scope.name,
                        trace_state=span.trace_state,
                        flags=span.flags,
                        start_ns=span.start_time_unix_nano,
                        end_ns=span.end_time_unix_nano,
                        dropped_attributes=span.dropped_attributes_count,
                        dropped_events=span.dropped_events_count,
                    )
                )
    return spans


@dataclass
class _Store:
    spans: list[ReceivedSpan] = field(default_factory=list)
    requests: int = 0
    bad_requests: int = 0
    #: The HTTP headers of every export request, lower-cased names.
    headers: list[dict[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Server(ThreadingHTTPServer):
    """Closes its open keep-alive connections on shutdown and keeps client hang-ups quiet."""

    daemon_threads = True

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.open_connections: set[socket.socket] = set()

    def process_request(self, request: Any, client_address: Any) -> None:
        self.open_connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        self.open_connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        return

    def server_close(self) -> None:
        super().server_close()
        for connection in list(self.open_connections):
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
            connection.close()
        self.open_connections.clear()


class OtlpReceiver:
    """``with OtlpReceiver() as receiver: ... receiver.endpoint ... receiver.spans``."""

    def __init__(self, mode: str = "ok", delay: float = 0.0) -> None:
        self.mode = mode
        self.delay = delay
        self.store = _Store()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                with receiver.store.lock:
                    receiver.store.requests += 1
                    receiver.store.headers.append({k.lower(): v for k, v in self.headers.items()})
                if receiver.mode == "slow":
                    time.sleep(receiver.delay)
                if receiver.mode == "fail":
                    self._answer(503, b"")
                    return
                try:
                    spans = decode(body)
                except Exception:  # noqa: BLE001 - any undecodable body is a bad request
                    with receiver.store.lock:
                        receiver.store.bad_requests += 1
                    self._answer(400, b"")
                    return
                with receiver.store.lock:
                    receiver.store.spans.extend(spans)
                self._answer(200, ExportTraceServiceResponse().SerializeToString())

            def _answer(self, status: int, payload: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - signature of the base
                return

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.endpoint = f"http://127.0.0.1:{self.port}/v1/traces"
        self._thread = threading.Thread(target=self.server.serve_forever, name="otlp-receiver", daemon=True)

    def start(self) -> OtlpReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> OtlpReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def spans(self) -> list[ReceivedSpan]:
        with self.store.lock:
            return list(self.store.spans)

    @property
    def requests(self) -> int:
        with self.store.lock:
            return self.store.requests

    def clear(self) -> None:
        with self.store.lock:
            self.store.spans.clear()

    def wait_for(
        self, predicate: Callable[[list[ReceivedSpan]], bool], timeout: float = 15.0
    ) -> list[ReceivedSpan]:
        """Wait until ``predicate(spans)`` holds; return the spans (assert on them afterwards)."""
        deadline = time.monotonic() + timeout
        while True:
            spans = self.spans
            if predicate(spans) or time.monotonic() > deadline:
                return spans
            time.sleep(0.05)


class Blackhole:
    """Accepts TCP connections and never reads or answers (a collector behind a dead proxy)."""

    def __init__(self) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(128)
        self.port = self.socket.getsockname()[1]
        self.endpoint = f"http://127.0.0.1:{self.port}/v1/traces"
        self.connections: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="blackhole", daemon=True)

    def _accept(self) -> None:
        self.socket.settimeout(0.2)
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError, OSError):
                connection, _ = self.socket.accept()
                self.connections.append(connection)

    def __enter__(self) -> Blackhole:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(2)
        for connection in self.connections:
            connection.close()
        self.socket.close()


class GrpcReceiver:
    """An OTLP/gRPC trace receiver on 127.0.0.1 (``grpcio`` and the generated service stubs)."""

    def __init__(self) -> None:
        from concurrent import futures

        import grpc
        from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc

        receiver = self
        self.store = _Store()

        class Servicer(trace_service_pb2_grpc.TraceServiceServicer):  # type: ignore[misc]
            def Export(self, request: Any, context: Any) -> Any:
                spans = decode(request.SerializeToString())
                with receiver.store.lock:
                    receiver.store.requests += 1
                    receiver.store.spans.extend(spans)
                return ExportTraceServiceResponse()

        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Servicer(), self.server)
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.endpoint = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> GrpcReceiver:
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop(grace=None)

    @property
    def spans(self) -> list[ReceivedSpan]:
        with self.store.lock:
            return list(self.store.spans)
