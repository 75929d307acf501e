"""Protocol-level test servers for the doctor: a static exporter, Elasticsearch and Grafana APIs.

:class:`StaticExporter` serves a fixed Prometheus exposition on ``/metrics`` (an instance on an
old instrumentation, a service whose routes explode). :class:`FakeElasticsearch` answers the
read calls the Logs check makes, in Elasticsearch's own response shapes: ``GET /``,
``GET /_index_template/<name>`` (``{"index_templates": [{"name", "index_template"}]}``),
``GET /_ilm/policy/<name>``, ``GET /_data_stream/<pattern>`` and ``POST <pattern>/_search`` with
the ``service.name`` terms aggregation computed from the documents it holds.
:class:`FakeGrafana` answers ``/api/health``, ``/api/dashboards/uid/<uid>`` and
``/api/datasources/uid/<uid>``, and refuses requests without its bearer token (401).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

Handler = Callable[[str, str, bytes, dict[str, str]], tuple[int, str, bytes]]


class _Server:
    def __init__(self, handle: Handler) -> None:
        outer = handle

        class RequestHandler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status, content_type, payload = outer(self.command, self.path, body, dict(self.headers))
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _answer  # noqa: N815 - BaseHTTPRequestHandler's method names

            def log_message(self, *_args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), RequestHandler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self._server.server_address[1]}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def _json(status: int, data: Any) -> tuple[int, str, bytes]:
    return status, "application/json", json.dumps(data).encode()


class StaticExporter(_Server):
    """Serves ``text`` (Prometheus text format) on ``/metrics``."""

    def __init__(self, text: str) -> None:
        self.text = text
        super().__init__(self._handle)

    def _handle(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, str, bytes]:
        return 200, "text/plain; version=0.0.4", self.text.encode()


class FakeElasticsearch(_Server):
    """The read side of Elasticsearch's REST API, holding templates, policies, streams and docs."""

    def __init__(self) -> None:
        self.templates: dict[str, Any] = {}
        self.policies: dict[str, Any] = {}
        self.data_streams: list[dict[str, Any]] = []
        #: Documents the search aggregates (as stored: dotted keys are fine here).
        self.docs: list[dict[str, Any]] = []
        self.writes = 0
        super().__init__(self._handle)

    def _handle(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, str, bytes]:
        parts = [p for p in path.split("?", 1)[0].split("/") if p]
        missing = {"error": {"type": "resource_not_found_exception"}, "status": 404}
        if method not in ("GET", "POST") or (method == "POST" and parts[-1:] != ["_search"]):
            self.writes += 1
            return _json(405, {"error": "read-only test server"})
        if not parts:
            return _json(
                200, {"name": "fake", "version": {"number": "8.15.0"}, "tagline": "You Know, for Search"}
            )
        if parts[0] == "_index_template":
            if parts[1] not in self.templates:
                return _json(404, missing)
            return _json(
                200, {"index_templates": [{"name": parts[1], "index_template": self.templates[parts[1]]}]}
            )
        if parts[:2] == ["_ilm", "policy"]:
            if parts[2] not in self.policies:
                return _json(404, missing)
            return _json(200, {parts[2]: {"version": 1, **self.policies[parts[2]]}})
        if parts[0] == "_data_stream":
            return _json(200, {"data_streams": self.data_streams})
        if parts[-1] == "_search":
            return _json(200, self._search())
        return _json(404, missing)

    def _search(self) -> dict[str, Any]:
        buckets: dict[str, dict[str, Any]] = {}
        for doc in self.docs:
            bucket = buckets.setdefault(
                doc["service.name"],
                {
                    "key": doc["service.name"],
                    "doc_count": 0,
                    "access": {"doc_count": 0, "traced": {"doc_count": 0}},
                },
            )
            bucket["doc_count"] += 1
            if doc.get("event.dataset") == "django.access":
                bucket["access"]["doc_count"] += 1
                if doc.get("trace.id"):
                    bucket["access"]["traced"]["doc_count"] += 1
        return {
            "hits": {"total": {"value": len(self.docs), "relation": "eq"}, "hits": []},
            "aggregations": {"services": {"buckets": list(buckets.values())}},
        }


class FakeGrafana(_Server):
    """Grafana's dashboard and datasource read API behind a bearer token."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.dashboards: dict[str, dict[str, Any]] = {}
        self.datasources: set[str] = set()
        super().__init__(self._handle)

    def _handle(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, str, bytes]:
        if headers.get("Authorization") != f"Bearer {self.token}":
            return _json(401, {"message": "Unauthorized"})
        parts = [p for p in path.split("?", 1)[0].split("/") if p]
        if parts == ["api", "health"]:
            return _json(200, {"commit": "fake", "database": "ok", "version": "11.2.0"})
        if parts[:3] == ["api", "dashboards", "uid"] and parts[3] in self.dashboards:
            return _json(200, {"dashboard": self.dashboards[parts[3]], "meta": {"slug": parts[3]}})
        if parts[:3] == ["api", "datasources", "uid"] and parts[3] in self.datasources:
            return _json(200, {"uid": parts[3], "name": parts[3]})
        return _json(404, {"message": "Not found"})
