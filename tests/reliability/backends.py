"""A switchable OTLP/HTTP collector: one fixed port that can be healthy, refusing, blackholed,
slow or down, so one running application can be taken through every fault and back.

Modes (``collector.mode = ...``):

``ok``         decode the ``ExportTraceServiceRequest`` (opentelemetry-proto) and keep the spans.
``refuse``     answer ``503 Service Unavailable`` (an overloaded collector).
``blackhole``  read the request and never answer, holding the connection open (a collector
               behind a dead proxy); leaving the mode closes those connections unanswered.
``slow``       wait ``delay`` seconds, then behave as ``ok``.

:meth:`down` closes the listening socket and every open connection (connection refused);
:meth:`up` listens again on the same port.
"""

from __future__ import annotations

import contextlib
import gzip
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from tests.support.procs import free_port
from tests.tracing.receiver import ReceivedSpan, decode


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class SwitchableCollector:
    """See the module docstring. Use as a context manager."""

    def __init__(self, delay: float = 1.0) -> None:
        self.mode = "ok"
        self.delay = delay
        self._lock = threading.Lock()
        self._spans: list[ReceivedSpan] = []
        self.posts = 0
        #: Export requests whose body did not decode as an ExportTraceServiceRequest.
        self.rejected = 0
        self._released = threading.Event()
        self._connections: set[socket.socket] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}/v1/traces"

    # -- lifecycle ---------------------------------------------------------------------------------
    def _handler(self) -> type[BaseHTTPRequestHandler]:
        collector = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                with collector._lock:
                    collector._connections.add(self.connection)

            def finish(self) -> None:
                with collector._lock:
                    collector._connections.discard(self.connection)
                with contextlib.suppress(OSError):
                    super().finish()

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                with collector._lock:
                    collector.posts += 1
                mode = collector.mode
                if mode == "blackhole":
                    collector._released.wait(120)
                    self.close_connection = True
                    return
                if mode == "refuse":
                    self._answer(503, b"")
                    return
                if mode == "slow":
                    time.sleep(collector.delay)
                try:
                    spans = decode(body)
                except Exception:  # noqa: BLE001 - a bad payload is answered, not fatal
                    with collector._lock:
                        collector.rejected += 1
                    self._answer(400, b"")
                    return
                with collector._lock:
                    collector._spans.extend(spans)
                self._answer(200, ExportTraceServiceResponse().SerializeToString())

            def _answer(self, status: int, payload: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - base signature
                return

        return Handler

    def up(self) -> SwitchableCollector:
        deadline = time.monotonic() + 10
        while True:
            try:
                server = _Server(("127.0.0.1", self.port), self._handler())
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="switchable-otlp", daemon=True
        )
        self._thread.start()
        return self

    def down(self) -> None:
        """Connection refused from now on; open connections are cut."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        self._release()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def set_mode(self, mode: str) -> None:
        if mode not in {"ok", "refuse", "blackhole", "slow"}:
            raise ValueError(mode)
        previous, self.mode = self.mode, mode
        if previous == "blackhole" and mode != "blackhole":
            self._release()

    def _release(self) -> None:
        self._released.set()
        time.sleep(0.05)
        self._released.clear()

    def __enter__(self) -> SwitchableCollector:
        return self.up()

    def __exit__(self, *exc: object) -> None:
        self.mode = "ok"
        self.down()

    # -- what arrived -------------------------------------------------------------------------------
    @property
    def spans(self) -> list[ReceivedSpan]:
        with self._lock:
            return list(self._spans)

    def trace_ids(self) -> set[str]:
        return {span.trace_id for span in self.spans}

    def server_spans(self) -> list[ReceivedSpan]:
        return [span for span in self.spans if span.kind == "SERVER"]
