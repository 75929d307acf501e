"""Protocol-level Elasticsearch (and Kibana import) test servers: real HTTP on 127.0.0.1.

:class:`FakeElasticsearch` speaks enough of the Elasticsearch REST API for the official
``elasticsearch`` 9.x client: ``GET /`` (cluster info), ``/_bulk`` and ``/{index}/_bulk`` with
NDJSON bodies and per-item results, ``_index_template`` and ``_ilm/policy`` (PUT, GET), always
with the ``X-Elastic-Product: Elasticsearch`` header the client checks. Fault modes, switchable
while it runs:

``ok``          every document is stored (``create`` -> 201; an ``_id`` already stored -> 409).
``429``         whole bulk requests answer 429 ``es_rejected_execution_exception``.
``500``/``503`` whole bulk requests answer that status.
``item_429``    the next ``item_failures`` documents (a budget over all requests) answer 429.
``reject``      documents whose source contains ``reject_marker`` fail with 400 (mapping error).
``slow``        every response waits ``delay`` seconds first.
``down()``      closes the listening socket (connection refused); ``up()`` listens again on
                the same port.

:class:`FakeKibana` answers ``POST /api/saved_objects/_import`` (multipart NDJSON), or refuses
with 403 when ``refuse`` is set.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PRODUCT_HEADERS = {"X-Elastic-Product": "Elasticsearch"}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class _Base:
    """Start/stop plumbing shared by both fakes."""

    handler: type[BaseHTTPRequestHandler]

    def __init__(self, port: int = 0) -> None:
        self.host = "127.0.0.1"
        self.port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.requests: list[tuple[str, str]] = []
        self.connections: set[socket.socket] = set()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> _Base:
        handler = type("Handler", (self.handler,), {"fake": self})
        server = _Server((self.host, self.port), handler)
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server = self._server
        self._server = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(5)
        # Keep-alive connections outlive the listening socket: cut them too.
        for conn in list(self.connections):
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self.connections.clear()

    # Elasticsearch being down means: connection refused on its port.
    def down(self) -> None:
        self.stop()

    def up(self) -> None:
        deadline = time.monotonic() + 5
        while True:
            try:
                self.start()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    fake: Any

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    def setup(self) -> None:
        super().setup()
        self.fake.connections.add(self.connection)

    def finish(self) -> None:
        self.fake.connections.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)


def _error(kind: str, reason: str, status: int) -> dict[str, Any]:
    return {
        "error": {"type": kind, "reason": reason, "root_cause": [{"type": kind, "reason": reason}]},
        "status": status,
    }


class _EsHandler(_Handler):
    fake: FakeElasticsearch

    def do_HEAD(self) -> None:
        self._dispatch()

    def do_GET(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def _es(self, status: int, payload: Any) -> None:
        self._send(status, payload, PRODUCT_HEADERS)

    def _dispatch(self) -> None:
        fake = self.fake
        body = self._body()
        path = self.path.split("?", 1)[0]
        fake.requests.append((self.command, path))
        if fake.delay:
            time.sleep(fake.delay)
        if fake.api_key is not None and self.headers.get("Authorization") != f"ApiKey {fake.api_key}":
            self._es(401, _error("security_exception", "missing authentication credentials", 401))
            return
        parts = [p for p in path.split("/") if p]
        if not parts:
            self._es(200, fake.info())
        elif parts[-1] == "_bulk":
            self._bulk(parts[0] if len(parts) == 2 else None, body)
        elif parts[0] == "_index_template" and len(parts) == 2:
            self._store(fake.templates, parts[1], body)
        elif parts[:2] == ["_ilm", "policy"] and len(parts) == 3:
            self._store(fake.policies, parts[2], body)
        else:
            self._es(404, _error("resource_not_found_exception", f"no handler for {path}", 404))

    def _store(self, store: dict[str, Any], name: str, body: bytes) -> None:
        if self.command == "PUT":
            try:
                store[name] = json.loads(body)
            except ValueError:
                self._es(400, _error("parse_exception", "request body is not JSON", 400))
                return
            self._es(200, {"acknowledged": True})
        elif name in store:
            self._es(200, {name: store[name]})
        else:
            self._es(404, _error("resource_not_found_exception", f"{name} missing", 404))

    def _bulk(self, index: str | None, body: bytes) -> None:
        fake = self.fake
        with fake.lock:
            fake.bulk_requests += 1
            mode = fake.mode
        if mode in {"429", "500", "503"}:
            status = int(mode)
            kind = "es_rejected_execution_exception" if status == 429 else "unavailable_shards_exception"
            self._es(status, _error(kind, f"fault mode {mode}", status))
            return
        lines = [line for line in body.split(b"\n") if line.strip()]
        items = []
        errors = False
        for action_line, source_line in zip(lines[::2], lines[1::2], strict=False):
            action = json.loads(action_line)
            op, meta = next(iter(action.items()))
            target = meta.get("_index") or index or "unknown"
            source = json.loads(source_line)
            with fake.lock:
                fail = mode == "item_429" and fake.item_failures > 0
                if fail:
                    fake.item_failures -= 1
            if fail:
                errors = True
                items.append(
                    {
                        op: {
                            "_index": target,
                            "status": 429,
                            "error": _error("es_rejected_execution_exception", "queue full", 429)["error"],
                        }
                    }
                )
                continue
            if mode == "reject" and fake.reject_marker in source_line.decode("utf-8", "replace"):
                errors = True
                items.append(
                    {
                        op: {
                            "_index": target,
                            "status": 400,
                            "error": _error("document_parsing_exception", "failed to parse field", 400)[
                                "error"
                            ],
                        }
                    }
                )
                continue
            with fake.lock:
                ids = fake.ids.setdefault(target, set())
                doc_id = meta.get("_id") or f"auto-{len(ids)}"
                duplicate = op == "create" and doc_id in ids
                if not duplicate:
                    ids.add(doc_id)
                    fake.docs.setdefault(target, []).append(source)
            if duplicate:
                errors = True
                conflict = _error(
                    "version_conflict_engine_exception", f"[{doc_id}]: document already exists", 409
                )
                items.append(
                    {op: {"_index": target, "_id": doc_id, "status": 409, "error": conflict["error"]}}
                )
                continue
            items.append(
                {op: {"_index": target, "_id": doc_id, "_version": 1, "result": "created", "status": 201}}
            )
        self._es(200, {"took": 1, "errors": errors, "items": items})


class FakeElasticsearch(_Base):
    """See the module docstring."""

    handler = _EsHandler

    def __init__(self, port: int = 0, api_key: str | None = None) -> None:
        super().__init__(port)
        self.api_key = api_key
        self.mode = "ok"
        self.delay = 0.0
        self.item_failures = 0
        self.reject_marker = "REJECT-ME"
        self.lock = threading.Lock()
        self.docs: dict[str, list[dict[str, Any]]] = {}
        self.ids: dict[str, set[str]] = {}
        self.templates: dict[str, Any] = {}
        self.policies: dict[str, Any] = {}
        self.bulk_requests = 0

    def info(self) -> dict[str, Any]:
        return {
            "name": "fake-node",
            "cluster_name": "fleetobs-tests",
            "cluster_uuid": "AAAAAAAAAAAAAAAAAAAAAA",
            "version": {"number": "9.1.0", "build_flavor": "default", "lucene_version": "10.2.2"},
            "tagline": "You Know, for Search",
        }

    def all_docs(self) -> list[dict[str, Any]]:
        with self.lock:
            return [doc for docs in self.docs.values() for doc in docs]


class _KibanaHandler(_Handler):
    fake: FakeKibana

    def do_POST(self) -> None:
        fake = self.fake
        body = self._body()
        fake.requests.append((self.command, self.path))
        if not self.path.startswith("/api/saved_objects/_import"):
            self._send(404, {"statusCode": 404, "error": "Not Found", "message": self.path})
            return
        if fake.refuse:
            self._send(403, {"statusCode": 403, "error": "Forbidden", "message": "not allowed to import"})
            return
        if not self.headers.get("kbn-xsrf"):
            self._send(400, {"statusCode": 400, "error": "Bad Request", "message": "missing kbn-xsrf header"})
            return
        content_type = self.headers.get("Content-Type", "")
        boundary = content_type.partition("boundary=")[2].encode()
        if not boundary:
            self._send(415, {"statusCode": 415, "error": "Unsupported Media Type", "message": content_type})
            return
        part = body.split(b"--" + boundary)[1]
        payload = part.split(b"\r\n\r\n", 1)[1].rsplit(b"\r\n", 1)[0]
        objects = [json.loads(line) for line in payload.splitlines() if line.strip()]
        overwrite = "overwrite=true" in self.path
        errors = []
        for obj in objects:
            key = (obj["type"], obj["id"])
            if key in fake.objects and not overwrite:
                errors.append({"id": obj["id"], "type": obj["type"], "error": {"type": "conflict"}})
                continue
            fake.objects[key] = obj
        self._send(
            200,
            {
                "success": not errors,
                "successCount": len(objects) - len(errors),
                "errors": errors,
                "successResults": [{"type": o["type"], "id": o["id"]} for o in objects],
            },
        )


class FakeKibana(_Base):
    """Kibana's saved-objects import endpoint."""

    handler = _KibanaHandler

    def __init__(self, port: int = 0) -> None:
        super().__init__(port)
        self.refuse = False
        self.objects: dict[tuple[str, str], dict[str, Any]] = {}
