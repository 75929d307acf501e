"""Logs of the sample shop under real gunicorn: every line JSON, trace ids right, shipped to ES.

Drives every sample endpoint (errors included) through a two-worker gunicorn started with the
instrumentation's hooks, each request with its own ``traceparent`` and ``X-Request-ID`` and a
load of secrets (Authorization, a session cookie, password and token query parameters). The
workers also ship to the fake Elasticsearch of this suite; the worker-exit hook flushes them.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.logging.es_server import FakeElasticsearch
from tests.support.procs import Gunicorn

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PATHS = [
    ("GET", "/"),
    ("GET", "/shop/products/"),
    ("GET", "/shop/products/1/"),
    ("GET", "/shop/products/999999/"),
    ("GET", "/shop/products/n-plus-one/"),
    ("GET", "/shop/categories/summary/"),
    ("GET", "/shop/slow/?delay=0.01"),
    ("GET", "/shop/flaky/"),
    ("POST", "/shop/orders/"),
    ("GET", "/shop/orders/1/"),
    ("GET", "/shop/account/"),
    ("GET", "/accounts/login/"),
    ("GET", "/nowhere/\x1b[31m"),
    ("DELETE", "/shop/products/"),
    ("GET", "/healthz"),
    ("GET", "/metrics"),
]
QUIET_SUFFIXES = (f"-{len(PATHS) - 2}", f"-{len(PATHS) - 1}")  # /healthz and /metrics
BEARER = "bearer-" + secrets.token_hex(8)
SESSION = "session-" + secrets.token_hex(8)
PASSWORD = "password-" + secrets.token_hex(8)
TOKEN = "token-" + secrets.token_hex(8)


@pytest.fixture(scope="module")
def shop_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    workdir = tmp_path_factory.mktemp("shop-logs")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "sample_app.settings",
        "SHOP_SQLITE_PATH": str(workdir / "shop.sqlite3"),
        "SHOP_FAULTS_FILE": str(workdir / "faults.json"),
        "SHOP_FAILURE_RATE": "1.0",
    }
    for name in ("DATABASE_URL", "REDIS_URL", "OTEL_SDK_DISABLED"):
        env.pop(name, None)
    for command in (["migrate", "--noinput"], ["seed"]):
        subprocess.run(
            [sys.executable, "-m", "sample_app", *command],
            env=env,
            check=True,
            capture_output=True,
            timeout=180,
        )
    return env


@pytest.fixture
def elasticsearch() -> Iterator[FakeElasticsearch]:
    server = FakeElasticsearch()
    server.start()
    yield server
    server.stop()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Report a redirect as the status it is: following it would send the same request id twice."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def request(base: str, method: str, path: str, request_id: str, trace_id: str) -> int:
    separator = "&" if "?" in path else "?"
    url = f"{base}{urllib.parse.quote(path, safe='/?=&')}{separator}password={PASSWORD}&token={TOKEN}"
    req = urllib.request.Request(
        url,
        method=method,
        data=b"{}" if method == "POST" else None,
        headers={
            "Authorization": f"Bearer {BEARER}",
            "Cookie": f"sessionid={SESSION}",
            "X-Request-ID": request_id,
            "traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01",
            "User-Agent": "log-walker/1.0",
            "Content-Type": "application/json",
        },
    )
    try:
        with _OPENER.open(req, timeout=30) as response:
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as exc:
        exc.read()
        return int(exc.code)


def test_gunicorn_output_is_json_with_trace_ids_and_no_secrets(
    shop_env: dict[str, str], elasticsearch: FakeElasticsearch, tmp_path: Path
) -> None:
    env = {
        **shop_env,
        "FLEETOBS_LOG_LEVEL": "INFO",
        "FLEETOBS_ELASTICSEARCH_URL": elasticsearch.url,
        # Spans go nowhere (a closed port): the trace ids still exist and are logged.
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:9/v1/traces",
        "OTEL_TRACES_SAMPLER": "always_on",
    }
    sent: dict[str, str] = {}
    statuses: dict[str, int] = {}
    with Gunicorn("sample_app.wsgi", workers=2, env=env, workdir=tmp_path / "gunicorn") as app:
        for round_ in range(3):
            for index, (method, path) in enumerate(PATHS):
                request_id = f"walk-{round_}-{index}"
                trace_id = secrets.token_hex(16)
                sent[request_id] = trace_id
                statuses[request_id] = request(app.url, method, path, request_id, trace_id)
        log_path = app.log_path
    assert 500 in statuses.values()
    assert 404 in statuses.values()
    assert 200 in statuses.values()

    raw = log_path.read_text(encoding="utf-8").splitlines()
    lines: list[dict[str, Any]] = []
    for text in raw:
        if text.startswith("$ "):  # the command line the test helper writes first
            continue
        lines.append(json.loads(text))  # every line gunicorn, Django and the app wrote is JSON
    loggers = {line["log"]["logger"] for line in lines}
    assert {"gunicorn.error", "fleetobs.access", "django.request"} <= loggers

    access = {
        line["http"]["request"]["id"]: line for line in lines if line["log"]["logger"] == "fleetobs.access"
    }
    # Successful probes and scrapes (the helper's readiness checks too) get no access line.
    quiet = {rid for rid, status in statuses.items() if status < 400 and rid.endswith(QUIET_SUFFIXES)}
    assert set(access) == set(sent) - quiet
    in_request = [line for line in lines if "request" in line.get("http", {})]
    assert len(in_request) > len(sent)  # access lines plus Django's and the app's own lines
    for line in in_request:
        request_id = line["http"]["request"]["id"]
        # Every line logged inside a request carries the trace id of that request's server span,
        # which continues the incoming traceparent.
        assert line["trace"]["id"] == sent.get(request_id, line["trace"]["id"]), line
        assert len(line["trace"]["id"]) == 32
    for request_id, line in access.items():
        assert line["http"]["response"]["status_code"] == statuses[request_id]

    # process.pid is the worker's own pid (refreshed after fork), as gunicorn announced it.
    booted = {
        int(line["message"].rsplit(" ", 1)[1])
        for line in lines
        if line["log"]["logger"] == "gunicorn.error" and line["message"].startswith("Booting worker with pid")
    }
    assert {line["process"]["pid"] for line in access.values()} <= booted
    assert len(booted) >= 2

    text = "\n".join(raw)
    for secret in (BEARER, SESSION, PASSWORD, TOKEN):
        assert secret not in text
    assert "\x1b" not in text

    # Direct shipping: every access line printed by a worker reached Elasticsearch.
    shipped = {
        doc["http"]["request"]["id"]
        for doc in elasticsearch.all_docs()
        if doc["log"]["logger"] == "fleetobs.access"
    }
    assert shipped == set(access)
