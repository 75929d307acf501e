"""``/metrics`` behind a real reverse proxy, and ``manage.py check --deploy`` on what would expose it.

The proxy is a small HTTP reverse proxy written here that does what nginx's usual
``proxy_set_header`` lines (and an ingress controller, and a cloud load balancer) do: it
forwards each request to a real gunicorn serving the test project and adds ``X-Forwarded-For``,
``X-Real-IP`` and ``X-Forwarded-Proto``. It connects to gunicorn from 127.0.0.1, which the
default ``METRICS_ALLOWED_NETWORKS`` allow, exactly like a proxy in front of a real service:
without the forwarding-header rule every client of the proxy would read the metrics.
"""

from __future__ import annotations

import http.client
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.reliability.harness import base_env
from tests.support.procs import Gunicorn

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
ENV = {
    "DJANGO_SETTINGS_MODULE": "tests.settings",
    "OTEL_SDK_DISABLED": "true",
    "FLEETOBS_LOG_LEVEL": "WARNING",
}
TOKEN = "proxy-test-token-0123456789"
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "trailer"}


class ReverseProxy:
    """``proxy_pass http://upstream;`` with nginx's usual forwarding headers, on a free port."""

    def __init__(self, upstream_port: int) -> None:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                proxy.forward(self)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base's name
                return

        self.upstream_port = upstream_port
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def forward(self, handler: BaseHTTPRequestHandler) -> None:
        client = handler.client_address[0]
        headers = {k: v for k, v in handler.headers.items() if k.lower() not in HOP_BY_HOP}
        previous = headers.pop("X-Forwarded-For", None)
        headers["X-Forwarded-For"] = f"{previous}, {client}" if previous else client
        headers["X-Real-IP"] = client
        headers["X-Forwarded-Proto"] = "http"
        upstream = http.client.HTTPConnection("127.0.0.1", self.upstream_port, timeout=15)
        try:
            upstream.request(handler.command, handler.path, headers=headers)
            reply = upstream.getresponse()
            body = reply.read()
            handler.send_response(reply.status)
            for name, value in reply.getheaders():
                if name.lower() not in HOP_BY_HOP | {"content-length"}:
                    handler.send_header(name, value)
            handler.send_header("Content-Length", str(len(body)))
            handler.send_header("Connection", "close")
            handler.end_headers()
            handler.wfile.write(body)
        finally:
            upstream.close()

    def __enter__(self) -> ReverseProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


def get(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read().decode("utf-8", "replace")
    finally:
        connection.close()


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gunicorn]:
    with Gunicorn("tests.project.wsgi", workers=2, env=ENV, workdir=tmp_path_factory.mktemp("app")) as server:
        yield server


@pytest.fixture(scope="module")
def app_with_token(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gunicorn]:
    env = {**ENV, "FLEETOBS_METRICS_TOKEN": TOKEN}
    with Gunicorn("tests.project.wsgi", workers=2, env=env, workdir=tmp_path_factory.mktemp("app")) as server:
        yield server


def test_default_settings_keep_metrics_from_clients_of_the_proxy(app: Gunicorn) -> None:
    with ReverseProxy(app.port) as proxy:
        assert get(proxy.port, "/ok/")[0] == 200  # the proxy serves the application
        status, body = get(proxy.port, "/metrics")
        assert status == 403
        assert "http_server_request_duration_seconds" not in body
        # A client cannot get around it by naming a private address itself.
        assert get(proxy.port, "/metrics", {"X-Forwarded-For": "10.0.0.5"})[0] == 403
    # Prometheus scraping the instance directly (a pod address, loopback here) needs nothing.
    status, body = get(app.port, "/metrics")
    assert status == 200
    assert "http_server_request_duration_seconds" in body


def test_a_token_lets_a_scraper_through_the_proxy(app_with_token: Gunicorn) -> None:
    with ReverseProxy(app_with_token.port) as proxy:
        assert get(proxy.port, "/ok/")[0] == 200
        assert get(proxy.port, "/metrics")[0] == 401
        assert get(proxy.port, "/metrics", {"Authorization": "Bearer wrong"})[0] == 401
        status, body = get(proxy.port, "/metrics", {"Authorization": f"Bearer {TOKEN}"})
    assert status == 200
    assert "http_server_request_duration_seconds" in body


def check_deploy(**env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "django", "check", "--deploy", "--fail-level", "ERROR"],
        env=base_env(**ENV, **env),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_check_deploy_reports_a_configuration_that_exposes_metrics() -> None:
    trusted = check_deploy(FLEETOBS_METRICS_TRUST_PROXY="true")
    assert trusted.returncode != 0
    assert "fleetobs.E004" in trusted.stderr + trusted.stdout
    with_token = check_deploy(FLEETOBS_METRICS_TRUST_PROXY="true", FLEETOBS_METRICS_TOKEN=TOKEN)
    assert "fleetobs.E004" not in with_token.stderr + with_token.stdout
    default = check_deploy()
    assert "fleetobs" not in default.stderr + default.stdout
