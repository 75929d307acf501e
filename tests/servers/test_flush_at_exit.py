"""Spans still queued when a server stops reach the exporter (issue: lifespan shutdown flushes).

uvicorn workers die by the SIGTERM they re-raise and granian's leave through ``os._exit``:
neither runs ``atexit``. With the export delay longer than the test, the only way a span reaches
the receiver is the flush at stop, which ``fleetobs serve`` makes the lifespan shutdown do.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.servers.harness import Served, drive

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.mark.parametrize("server", ["uvicorn", "granian", "hypercorn"])
def test_queued_spans_are_exported_when_the_server_stops(server: str, tmp_path: Path) -> None:
    env = {"OTEL_BSP_SCHEDULE_DELAY": "600000"}  # ten minutes: nothing is exported on its own
    with Served(server, workers=2, workdir=tmp_path, env=env) as served:
        drive([served.url], count=20)
        assert served.trace_sink.requests == 0
        served.terminate()
        assert served.trace_sink.requests >= 1
        lines = served.log_path.read_text()
    assert "lifespan" not in lines.lower().replace("application startup", "")  # no "unsupported"
