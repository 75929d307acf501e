"""A worker's exit flush is bounded whatever state the trace and log backends are in.

Spans and log lines are left queued (export and shipping intervals of a minute), then the
gunicorn master gets SIGTERM while the collector and Elasticsearch are dead (connection
refused), refusing (503), or blackholed (the connection is accepted and never answered). The
workers flush both queues at once for at most ``instrumentation.gunicorn.FLUSH_BUDGET`` seconds
in all, so the master exits within that bound plus its own reaping, although gunicorn would
wait 30 seconds for them here.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.logging.es_server import FakeElasticsearch
from tests.reliability.backends import SwitchableCollector
from tests.reliability.harness import request, shop_env
from tests.support.procs import Gunicorn, free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

#: instrumentation.gunicorn.FLUSH_BUDGET (importing that module here would point this whole test
#: process at a multiprocess metrics directory, as it does for gunicorn).
FLUSH_BUDGET = 4.0
#: What docs/tracing.md promises for a worker's exit; the acceptance bound is this plus one second.
DOCUMENTED_BOUND = 5.0
# The bound is DOCUMENTED_BOUND plus one second; what a loaded 2-core CI machine adds to
# process start-up and exit on top is allowed for here, and the measured figure is printed.
SLACK = 3.0


class Blackhole:
    """Accepts TCP connections and never reads or answers (a backend behind a dead proxy)."""

    def __init__(self) -> None:
        self._server = socket.create_server(("127.0.0.1", 0))
        self._held: list[socket.socket] = []
        self._stop = threading.Event()
        self.url = f"http://127.0.0.1:{self._server.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        self._server.settimeout(0.2)
        while not self._stop.is_set():
            with contextlib.suppress(OSError):
                connection, _ = self._server.accept()
                self._held.append(connection)

    def close(self) -> None:
        self._stop.set()
        for connection in self._held:
            connection.close()
        self._server.close()


@contextlib.contextmanager
def backends(fault: str) -> Iterator[tuple[str, str]]:
    """(OTLP traces endpoint, Elasticsearch URL) in the state ``fault`` names."""
    if fault == "dead":
        yield f"http://127.0.0.1:{free_port()}/v1/traces", f"http://127.0.0.1:{free_port()}"
    elif fault == "refusing":
        with SwitchableCollector() as collector:
            collector.mode = "refuse"
            elasticsearch = FakeElasticsearch().start()
            elasticsearch.mode = "503"
            try:
                yield collector.endpoint, elasticsearch.url
            finally:
                elasticsearch.stop()
    else:
        hole = Blackhole()
        try:
            yield hole.url + "/v1/traces", hole.url
        finally:
            hole.close()


@pytest.mark.parametrize("fault", ["dead", "refusing", "blackholed"])
def test_sigterm_returns_within_the_flush_budget(fault: str, shop_database: Path, tmp_path: Path) -> None:
    import instrumentation.gunicorn

    assert instrumentation.gunicorn.FLUSH_BUDGET == FLUSH_BUDGET
    with backends(fault) as (traces, elasticsearch):
        env = shop_env(
            shop_database,
            fleetobs={
                "SPAN_SCHEDULE_DELAY": 60.0,
                "SPAN_BATCH_SIZE": 2048,
                "ELASTICSEARCH_FLUSH_INTERVAL": 60.0,
                "ELASTICSEARCH_BATCH_SIZE": 5000,
            },
            OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=traces,
            FLEETOBS_ELASTICSEARCH_URL=elasticsearch,
            FLEETOBS_LOG_LEVEL="INFO",
        )
        extra = ["--graceful-timeout", "30"]  # gunicorn would wait this long; the flush must not
        app = Gunicorn("sample_app.wsgi", workers=2, env=env, workdir=tmp_path / "app", extra_args=extra)
        app.start()
        try:
            for n in range(20):
                assert (
                    request(app.url, "/shop/products/", headers={"X-Request-ID": f"bound-{n}"}).status == 200
                )
            assert app.process is not None
            started = time.monotonic()
            os.kill(app.pid, signal.SIGTERM)
            app.process.wait(timeout=60)
            elapsed = time.monotonic() - started
        finally:
            app.stop()
    print(f"{fault}: master exited {elapsed:.2f} s after SIGTERM (bound {DOCUMENTED_BOUND + 1:.0f} s)")
    assert elapsed <= DOCUMENTED_BOUND + 1.0 + SLACK, app.log_tail(20)
