"""OTLP/HTTP transport: POST encoded spans to the collector, with a hard deadline.

One keep-alive ``http.client`` connection per process, used only by the export thread. Each
export has a total deadline (``SPAN_EXPORT_TIMEOUT``) that covers connecting, sending, waiting
for the answer and every retry, so a collector that is down, refuses, accepts the connection
and never answers (blackholed) or answers slowly holds the export thread for at most that long.
Retried: connection errors, timeouts and HTTP 429/502/503/504 (``Retry-After`` honoured when it
fits in the deadline), with exponential backoff. Other 4xx/5xx answers fail at once.
:meth:`OtlpHttpSender.close` (shutdown) interrupts a wait in progress.

Standard variables honoured besides the settings: ``OTEL_EXPORTER_OTLP_[TRACES_]COMPRESSION``
(``gzip``), ``..._CERTIFICATE`` (CA bundle), ``..._CLIENT_CERTIFICATE`` and ``..._CLIENT_KEY``
(mutual TLS).
"""

from __future__ import annotations

import contextlib
import gzip
import http.client
import os
import random
import socket
import ssl
import threading
import time
from urllib.parse import urlsplit

from instrumentation import __version__

RETRYABLE_STATUS = frozenset({429, 502, 503, 504})


def _env(name: str) -> str | None:
    return os.environ.get(f"OTEL_EXPORTER_OTLP_TRACES_{name}") or os.environ.get(f"OTEL_EXPORTER_OTLP_{name}")


class ExportError(Exception):
    """An export that did not reach the collector; ``retryable`` says whether to try again."""

    def __init__(self, message: str, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


class OtlpHttpSender:
    """Sends ``ExportTraceServiceRequest`` bytes to one OTLP/HTTP endpoint."""

    def __init__(self, endpoint: str, headers: dict[str, str] | None, timeout: float) -> None:
        parts = urlsplit(endpoint)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError(f"OTLP endpoint must be an http(s) URL, got {endpoint!r}")
        self.endpoint = endpoint
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port or (443 if self._https else 80)
        self._path = (parts.path or "/v1/traces") + (f"?{parts.query}" if parts.query else "")
        self._timeout = timeout
        self._gzip = (_env("COMPRESSION") or "").lower() == "gzip"
        self._headers = {
            "Content-Type": "application/x-protobuf",
            "User-Agent": f"fleetobs/{__version__}",
            **(headers or {}),
        }
        if self._gzip:
            self._headers["Content-Encoding"] = "gzip"
        self._ssl: ssl.SSLContext | None = None
        if self._https:
            self._ssl = ssl.create_default_context(cafile=_env("CERTIFICATE"))
            client_cert = _env("CLIENT_CERTIFICATE")
            if client_cert:
                self._ssl.load_cert_chain(client_cert, _env("CLIENT_KEY"))
        self._connection: http.client.HTTPConnection | None = None
        self._closed = threading.Event()

    def _connect(self, timeout: float) -> http.client.HTTPConnection:
        connection = self._connection
        if connection is None:
            if self._https:
                connection = http.client.HTTPSConnection(
                    self._host, self._port, timeout=timeout, context=self._ssl
                )
            else:
                connection = http.client.HTTPConnection(self._host, self._port, timeout=timeout)
            self._connection = connection
        connection.timeout = timeout
        if connection.sock is not None:
            connection.sock.settimeout(timeout)
        return connection

    def _drop_connection(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(OSError):
                connection.close()

    def _attempt(self, body: bytes, timeout: float) -> tuple[int, bytes, str | None]:
        connection = self._connect(timeout)
        try:
            connection.request("POST", self._path, body=body, headers=self._headers)
            response = connection.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as exc:
            self._drop_connection()
            raise ExportError(f"{type(exc).__name__}: {exc}", retryable=True) from exc
        if response.will_close:
            self._drop_connection()
        return response.status, data, response.getheader("Retry-After")

    def send(self, body: bytes) -> bytes:
        """POST ``body``; return the response body on 2xx, raise :class:`ExportError` otherwise."""
        if self._gzip:
            body = gzip.compress(body, compresslevel=5)
        deadline = time.monotonic() + self._timeout
        attempt = 0
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._closed.is_set():
                raise ExportError("export deadline exceeded", retryable=False)
            retry_after: float | None = None
            try:
                status, data, retry_after_header = self._attempt(body, remaining)
            except ExportError as exc:
                error = exc
            else:
                if 200 <= status < 300:
                    return data
                error = ExportError(f"HTTP {status}", retryable=status in RETRYABLE_STATUS)
                if retry_after_header and retry_after_header.strip().isdigit():
                    retry_after = float(retry_after_header.strip())
            if not error.retryable:
                raise error
            backoff = retry_after if retry_after is not None else min(0.25 * 2**attempt, 4.0)
            backoff *= random.uniform(0.8, 1.2)  # noqa: S311 - jitter, not cryptography
            if time.monotonic() + backoff >= deadline:
                raise error
            if self._closed.wait(backoff):
                raise error
            attempt += 1

    def close(self) -> None:
        """Stop retrying and unblock a wait in progress (called from another thread)."""
        self._closed.set()
        connection = self._connection
        sock = connection.sock if connection is not None else None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self._drop_connection()
