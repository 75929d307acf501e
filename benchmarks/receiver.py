"""An OTLP receiver in a process of its own: the far end of the real export path.

``python -m benchmarks.receiver`` listens on 127.0.0.1 for OTLP/HTTP (``POST /v1/traces``,
protobuf, gzip understood) and OTLP/gRPC (``TraceService/Export``), decodes every request as
an ``ExportTraceServiceRequest`` and counts spans and bytes per ``service.name``, then answers
success as a collector does. ``GET /stats`` returns the counts as JSON. It prints one JSON
line with both ports once it listens.

The decoding is done so the counts are real (a span that did not arrive is not counted); it
costs the receiver, not the measured process, though both share the machine's cores.
:class:`Receiver` starts and stops the process from the benchmark driver.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import subprocess
import sys
import threading
import urllib.request
from collections import defaultdict
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

_lock = threading.Lock()
_counts: dict[str, dict[str, int]] = defaultdict(lambda: {"requests": 0, "spans": 0, "bytes": 0})


def _record(body: bytes, protocol: str) -> bytes:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
        ExportTraceServiceResponse,
    )

    request = ExportTraceServiceRequest.FromString(body)
    with _lock:
        for resource_spans in request.resource_spans:
            service = next(
                (
                    kv.value.string_value
                    for kv in resource_spans.resource.attributes
                    if kv.key == "service.name"
                ),
                "",
            )
            entry = _counts[f"{protocol}:{service}"]
            entry["requests"] += 1
            entry["bytes"] += len(body)
            entry["spans"] += sum(len(scope.spans) for scope in resource_spans.scope_spans)
    answer: bytes = ExportTraceServiceResponse().SerializeToString()
    return answer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        try:
            answer = _record(body, "http")
        except Exception:  # noqa: BLE001 - a malformed body is the sender's fault: 400
            self.send_response(400)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def do_GET(self) -> None:
        with _lock:
            body = json.dumps(_counts).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
        return None


def _grpc_server() -> tuple[Any, int]:
    import grpc
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

    class Servicer(trace_service_pb2_grpc.TraceServiceServicer):
        def Export(self, request: Any, context: Any) -> Any:  # noqa: N802 - the gRPC service
            _record(request.SerializeToString(), "grpc")
            return ExportTraceServiceResponse()

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Servicer(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, port


def main() -> int:
    http = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    http.daemon_threads = True
    grpc_server, grpc_port = _grpc_server()
    print(json.dumps({"http": http.server_address[1], "grpc": grpc_port}), flush=True)
    try:
        http.serve_forever()
    finally:
        grpc_server.stop(0)
    return 0


class Receiver:
    """The driver's handle on a receiver process."""

    def __init__(self) -> None:
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.receiver"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd=ROOT,
            env=env,
            text=True,
        )
        assert self.process.stdout is not None
        ports = json.loads(self.process.stdout.readline())
        self.http_endpoint = f"http://127.0.0.1:{ports['http']}/v1/traces"
        self.grpc_endpoint = f"http://127.0.0.1:{ports['grpc']}"
        self.stats_url = f"http://127.0.0.1:{ports['http']}/stats"

    def environment(self) -> dict[str, str]:
        return {
            "FLEETOBS_BENCH_OTLP_HTTP": self.http_endpoint,
            "FLEETOBS_BENCH_OTLP_GRPC": self.grpc_endpoint,
        }

    def stats(self) -> dict[str, dict[str, int]]:
        return fetch_stats(self.stats_url)

    def close(self) -> None:
        self.process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(5)
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def fetch_stats(url: str) -> dict[str, dict[str, int]]:
    with urllib.request.urlopen(url, timeout=10) as answer:
        counts: dict[str, dict[str, int]] = json.loads(answer.read())
    return counts


if __name__ == "__main__":
    sys.exit(main())
