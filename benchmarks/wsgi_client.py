"""Calling a WSGI application in-process: no sockets, only Django's handler and what it runs.

A request is a fresh environ dict (copied from a template, with its own empty body stream) and
a call of the application, the response iterated and closed as a server would (closing sends
Django's ``request_finished``).
"""

from __future__ import annotations

import io
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def environ(path: str, query: str = "") -> dict[str, Any]:
    return {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1:8000",
        "HTTP_USER_AGENT": "fleetobs-bench/1.0",
        "HTTP_ACCEPT": "*/*",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }


class Client:
    """Serves requests for one path through ``app``; remembers the statuses it saw."""

    def __init__(self, app: WsgiApp, path: str, query: str = "") -> None:
        self.app = app
        self.template = environ(path, query)
        self.statuses: dict[str, int] = {}
        self.body = b""

    def _start_response(self, status: str, headers: Any, exc_info: Any = None) -> Callable[[bytes], None]:
        self.statuses[status] = self.statuses.get(status, 0) + 1
        return _discard

    def serve(self, count: int) -> int:
        """Serve ``count`` requests; return the elapsed nanoseconds."""
        app = self.app
        template = self.template
        start_response = self._start_response
        bytes_io = io.BytesIO
        started = time.perf_counter_ns()
        for _ in range(count):
            env = template.copy()
            env["wsgi.input"] = bytes_io(b"")
            result = app(env, start_response)
            try:
                for _chunk in result:
                    pass
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
        return time.perf_counter_ns() - started

    def one(self) -> bytes:
        env = self.template.copy()
        env["wsgi.input"] = io.BytesIO(b"")
        result = self.app(env, self._start_response)
        try:
            return b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()


def _discard(data: bytes) -> None:
    return None
