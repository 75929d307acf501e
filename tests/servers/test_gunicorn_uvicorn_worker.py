"""gunicorn with uvicorn's worker class and the gunicorn hooks (no launcher needed): the same
acceptance as the ASGI servers (see :mod:`tests.servers.acceptance`)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.servers.harness import (
    ROOT,
    ROUTES,
    SIGTERM_BOUND,
    check_output,
    drive,
    expected_counts,
    scrape_counts,
)
from tests.support.procs import Gunicorn, TraceSink

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_two_uvicorn_workers_report_every_request_and_log_json(tmp_path: Path) -> None:
    with TraceSink() as sink:
        env = {
            "DJANGO_SETTINGS_MODULE": "tests.servers.settings",
            "PYTHONPATH": str(ROOT),
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": sink.endpoint,
            # uvicorn.workers says, once per worker, that it moved to the uvicorn-worker package.
            "PYTHONWARNINGS": "ignore::DeprecationWarning",
        }
        extra = ["-k", "uvicorn.workers.UvicornWorker"]
        with Gunicorn("tests.project.asgi", workers=2, env=env, extra_args=extra, workdir=tmp_path) as app:
            sent = drive([app.url], count=200)
            assert [s.status for s in sent] == [ROUTES[s.path][1] for s in sent]
            scrapes = [scrape_counts(app.url) for _ in range(10)]
            assert scrapes == [expected_counts(sent)] * 10
            assert app.process is not None
            started = time.monotonic()
            os.kill(app.pid, signal.SIGTERM)
            try:
                app.process.wait(timeout=SIGTERM_BOUND)
            except subprocess.TimeoutExpired:
                pytest.fail(f"gunicorn still running after SIGTERM\n{app.log_tail(30)}")
            print(f"gunicorn + UvicornWorker: exited {time.monotonic() - started:.2f} s after SIGTERM")
    check_output([app.log_path], sent)
