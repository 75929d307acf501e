"""``opentelemetry-instrument`` wrapping real gunicorn: the zero-code setup many teams already run.

The SDK is configured by OpenTelemetry's distro from ``OTEL_*`` (OTLP/HTTP to the test receiver)
and its Django instrumentation starts each request's span; the team's own span processor
(``tests/tracing/site/otel_settings.py``) logs every span it sees end. What a user sees:
one trace and one SERVER span per request, the database spans its children, and the
processor called for every span the backend received.
"""

from __future__ import annotations

import collections
import sys
from pathlib import Path

import pytest

from tests.tracing.receiver import OtlpReceiver, ReceivedSpan
from tests.tracing.site_gunicorn import site_env, site_gunicorn

pytestmark = [pytest.mark.integration, pytest.mark.slow]

OPENTELEMETRY_INSTRUMENT = str(Path(sys.executable).with_name("opentelemetry-instrument"))


def _processor_log(path: Path) -> dict[str, str]:
    """Span id -> kind, for every span the team's processor saw end."""
    if not path.exists():
        return {}
    return {line.split()[1]: line.split()[2] for line in path.read_text().splitlines() if line.strip()}


@pytest.mark.parametrize("preload", [False, True], ids=["no-preload", "preload"])
def test_opentelemetry_instrument_one_trace_one_server_span(
    tmp_path: Path, receiver: OtlpReceiver, preload: bool
) -> None:
    processor_log = tmp_path / "processor.log"
    env = site_env(
        tmp_path,
        receiver.endpoint,
        DJANGO_SETTINGS_MODULE="tests.tracing.site.otel_settings",
        TRACING_SITE_PROCESSOR_LOG=str(processor_log),
        OTEL_SERVICE_NAME="zero-code-site",
        OTEL_TRACES_EXPORTER="otlp",
        OTEL_EXPORTER_OTLP_TRACES_PROTOCOL="http/protobuf",
        OTEL_METRICS_EXPORTER="none",
        OTEL_LOGS_EXPORTER="none",
        OTEL_BSP_SCHEDULE_DELAY="200",
        # OpenTelemetry's own database instrumentations, when installed, add a second span per
        # query beside ours (docs/adopting.md: set TRACE_DB off to keep theirs instead).
        OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="sqlite3,dbapi,psycopg,psycopg2",
    )
    paths = ["/ok/", "/db/", "/items/3/"] * 4
    with site_gunicorn(env, workers=2, preload=preload, wrapper=(OPENTELEMETRY_INSTRUMENT,)) as server:
        expected: dict[str, str] = {}
        for path in paths:
            response = server.get(path)
            assert response.status == 200, response.body[:300]
            expected[response.headers["X-Trace-Id"]] = path
        server.terminate()
    assert len(expected) == len(paths)  # a trace per request

    def complete(spans: list[ReceivedSpan]) -> bool:
        mine = [s for s in spans if s.trace_id in expected]
        servers = [s for s in mine if s.kind == "SERVER"]
        queries = [s for s in mine if s.kind == "CLIENT"]
        return len(servers) >= len(paths) and len(queries) >= 3 * paths.count("/db/")

    spans = [s for s in receiver.wait_for(complete, timeout=30) if s.trace_id in expected]
    by_trace: dict[str, list[ReceivedSpan]] = collections.defaultdict(list)
    for span in spans:
        by_trace[span.trace_id].append(span)
    assert set(by_trace) == set(expected)  # every request's trace id (the header) reached the backend
    for trace_id, path in expected.items():
        servers = [s for s in by_trace[trace_id] if s.kind == "SERVER"]
        assert len(servers) == 1, (path, servers)
        (server_span,) = servers
        route = {"/ok/": "ok/", "/db/": "db/"}.get(path, "items/<int:pk>/")
        assert server_span.name == f"GET {route}"
        assert server_span.attributes["http.route"] == route
        assert server_span.attributes["http.response.status_code"] == 200
        assert server_span.resource["service.name"] == "zero-code-site"
        assert server_span.scope == "opentelemetry.instrumentation.django"
        queries = [s for s in by_trace[trace_id] if s.kind == "CLIENT"]
        assert len(queries) == (3 if path == "/db/" else 0)
        assert all(q.parent_span_id == server_span.span_id for q in queries)
    seen = _processor_log(processor_log)
    missing = [(s.name, s.kind) for s in spans if s.span_id not in seen]
    assert missing == []  # the team's processor saw every span the backend received
