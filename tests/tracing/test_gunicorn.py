"""Traces from real gunicorn workers (with and without ``--preload``) to a real OTLP receiver.

The server runs ``gunicorn -c python:instrumentation.gunicorn`` with 3 workers serving the test
site; spans go over OTLP/HTTP to :class:`~tests.tracing.receiver.OtlpReceiver`. The schedule
delay is long, so the spans arrive only because each worker flushes when it exits (SIGTERM).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.procs import Gunicorn, free_port
from tests.tracing.receiver import Blackhole, OtlpReceiver, ReceivedSpan
from tests.tracing.site_gunicorn import ROOT, counter, site_env, site_gunicorn

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _servers(spans: list[ReceivedSpan]) -> list[ReceivedSpan]:
    return [
        s
        for s in spans
        if s.kind == "SERVER" and s.name != "GET healthz" and not s.name.startswith("GET metrics")
    ]


@pytest.mark.parametrize("preload", [False, True], ids=["no-preload", "preload"])
def test_every_request_one_server_span_none_lost_on_exit(
    tmp_path: Path, receiver: OtlpReceiver, preload: bool
) -> None:
    env = site_env(tmp_path, receiver.endpoint, TRACING_SITE_SCHEDULE_DELAY="60")
    paths = [p for i in range(20) for p in ("/ok/", f"/items/{i}/", "/db/")]
    with site_gunicorn(env, workers=3, preload=preload) as server:
        master_pid = server.process.pid if server.process else 0
        expected: dict[str, str] = {}
        for path in paths:
            response = server.get(path, headers={"User-Agent": "fleet-test"})
            assert response.status == 200
            expected[response.headers["X-Trace-Id"]] = path
        assert receiver.spans == [] or len(_servers(receiver.spans)) < len(paths)
        exit_seconds = server.terminate()
    assert exit_seconds < 30
    spans = receiver.wait_for(lambda s: len(_servers(s)) >= len(paths), timeout=10)
    servers = [s for s in _servers(spans) if s.trace_id in expected]
    assert len(servers) == len(paths)  # exactly one server span per request, none lost
    assert {s.trace_id for s in servers} == set(expected)
    instance_ids: dict[int, set[str]] = {}
    for span in servers:
        path = expected[span.trace_id]
        route = {"/ok/": "ok/", "/db/": "db/"}.get(path, "items/<int:pk>/")
        assert span.name == f"GET {route}"
        assert span.attributes["http.route"] == route
        assert span.attributes["http.request.method"] == "GET"
        assert span.attributes["http.response.status_code"] == 200
        assert span.attributes["url.path"] == path
        assert span.attributes["url.scheme"] == "http"
        assert span.attributes["client.address"] == "127.0.0.1"
        assert span.attributes["user_agent.original"] == "fleet-test"
        assert span.attributes["server.address"] == "127.0.0.1"
        assert span.resource["service.name"] == "tracing-site"
        assert span.resource["service.version"] == "9.9.9"
        assert span.resource["deployment.environment.name"] == "ci"
        pid = span.resource["process.pid"]
        assert pid != master_pid
        instance_ids.setdefault(pid, set()).add(span.resource["service.instance.id"])
    # One instance id per worker process, different in every worker (regenerated after fork).
    assert all(len(ids) == 1 for ids in instance_ids.values())
    assert len({next(iter(ids)) for ids in instance_ids.values()}) == len(instance_ids)
    by_trace = {s.trace_id: s for s in servers}
    queries = [s for s in spans if s.kind == "CLIENT" and s.trace_id in by_trace]
    db_traces = [t for t, p in expected.items() if p == "/db/"]
    assert len(queries) == 3 * len(db_traces)
    for query in queries:
        assert expected[query.trace_id] == "/db/"
        assert query.parent_span_id == by_trace[query.trace_id].span_id
        assert query.attributes["db.system"] == "sqlite"
        assert query.attributes["db.operation.name"] == "SELECT"


def test_trace_context_continued_or_restarted(tmp_path: Path, receiver: OtlpReceiver) -> None:
    env = site_env(tmp_path, receiver.endpoint)
    with site_gunicorn(env, workers=2) as server:
        valid = server.get("/ok/", headers={"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"})
        malformed = server.get(
            "/ok/", headers={"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-zz", "tracestate": "x" * 8000}
        )
        hostile = server.get("/ok/", headers={"traceparent": "00-" + "z" * 600, "baggage": "=" * 8000})
        server.terminate()
    assert valid.status == malformed.status == hostile.status == 200
    assert valid.headers["X-Trace-Id"] == TRACE_ID
    assert malformed.headers["X-Trace-Id"] != TRACE_ID
    spans = receiver.wait_for(lambda s: len(_servers(s)) >= 3)
    by_trace = {s.trace_id: s for s in _servers(spans)}
    assert by_trace[TRACE_ID].parent_span_id == PARENT_ID
    assert by_trace[malformed.headers["X-Trace-Id"]].parent_span_id is None
    assert by_trace[hostile.headers["X-Trace-Id"]].parent_span_id is None


def _latencies(server: Gunicorn, count: int) -> list[float]:
    durations = []
    for _ in range(count):
        started = time.perf_counter()
        assert server.get("/ok/").status == 200
        durations.append(time.perf_counter() - started)
    return durations


@pytest.mark.parametrize("fault", ["down", "blackholed", "slow"])
def test_collector_faults_leave_requests_alone(tmp_path: Path, fault: str) -> None:
    """Requests succeed at baseline speed; the drop counter rises; workers still exit promptly."""
    fault_settings = {
        "TRACING_SITE_QUEUE_SIZE": "16",
        "TRACING_SITE_SCHEDULE_DELAY": "0.1",
        "TRACING_SITE_EXPORT_TIMEOUT": "4",
    }
    (tmp_path / "base").mkdir()
    (tmp_path / "fault").mkdir()
    with OtlpReceiver() as healthy:
        base_env = site_env(tmp_path / "base", healthy.endpoint, **fault_settings)
        with site_gunicorn(base_env, workers=2) as server:
            _latencies(server, 20)
            baseline = statistics.median(_latencies(server, 150))
    blackhole = Blackhole().__enter__() if fault == "blackholed" else None
    slow = OtlpReceiver(mode="slow", delay=5.0).start() if fault == "slow" else None
    endpoint = (
        blackhole.endpoint
        if blackhole
        else slow.endpoint
        if slow
        else f"http://127.0.0.1:{free_port()}/v1/traces"
    )
    try:
        with site_gunicorn(site_env(tmp_path / "fault", endpoint, **fault_settings), workers=2) as server:
            _latencies(server, 20)
            faulty = _latencies(server, 150)
            dropped = 0.0
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                dropped = counter(server, "fleetobs_telemetry_dropped_total", signal="spans")
                if dropped > 0:
                    break
                time.sleep(0.5)
            exit_seconds = server.terminate()
    finally:
        if blackhole is not None:
            blackhole.__exit__()
        if slow is not None:
            slow.stop()
    assert dropped > 0
    # Generous: noise on a shared machine is large; a request waiting on the exporter would take
    # seconds (the export timeout), not milliseconds.
    assert statistics.median(faulty) < baseline * 3 + 0.05
    assert max(faulty) < 3.0
    assert exit_seconds < 25


@pytest.mark.parametrize("preload", [False, True], ids=["no-preload", "preload"])
def test_sample_shop_product_pages(tmp_path: Path, receiver: OtlpReceiver, preload: bool) -> None:
    """The sample shop under its own gunicorn config: DB query spans are children of the page's span."""
    env = site_env(tmp_path, receiver.endpoint)
    for key in ("TRACING_SITE_DB", "DJANGO_SETTINGS_MODULE", "DATABASE_URL", "REDIS_URL"):
        env.pop(key, None)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "sample_app.settings",
            "SHOP_SQLITE_PATH": str(tmp_path / "shop.sqlite3"),
            "SHOP_FAULTS_FILE": str(tmp_path / "faults.json"),
            "OTEL_SERVICE_NAME": "shop",
        }
    )
    for args in (["migrate", "--noinput"], ["seed"]):
        subprocess.run(
            [sys.executable, "-m", "sample_app", *args], cwd=ROOT, env=env, check=True, capture_output=True,
            timeout=180,
        )  # fmt: skip
    pages = ["/shop/products/", "/shop/products/1/", "/shop/products/2/"] * 4
    with site_gunicorn(env, workers=3, preload=preload, config="sample_app/gunicorn.conf.py") as server:
        trace_ids = {}
        for page in pages:
            response = server.get(page)
            assert response.status == 200, response.body[:500]
            trace_ids[response.headers["X-Trace-Id"]] = page
        server.terminate()
    spans = receiver.wait_for(
        lambda s: len([x for x in _servers(s) if x.trace_id in trace_ids]) >= len(pages)
    )
    servers = {s.trace_id: s for s in _servers(spans) if s.trace_id in trace_ids}
    assert len(servers) == len(pages)
    for trace_id, page in trace_ids.items():
        server_span = servers[trace_id]
        route = "shop/products/" if page == "/shop/products/" else "shop/products/<int:pk>/"
        assert server_span.name == f"GET {route}"
        assert server_span.resource["service.name"] == "shop"
        queries = [
            s
            for s in spans
            if s.trace_id == trace_id and s.kind == "CLIENT" and "db.query.text" in s.attributes
        ]
        assert queries, page
        assert all(q.parent_span_id == server_span.span_id for q in queries)
