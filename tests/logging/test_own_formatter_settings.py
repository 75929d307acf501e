"""A project whose own ``LOGGING`` formats with python-json-logger, applied by Django at setup.

Every line the project writes while serving a request carries, as ``trace.id``, the trace id of
that request's server span; Django's request object is not written into the line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.logging.test_own_formatter import REQUESTS

ROOT = Path(__file__).resolve().parents[2]


def test_every_line_written_during_a_request_carries_its_trace_id() -> None:
    paths = [path for path, _ in REQUESTS]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    done = subprocess.run(
        [sys.executable, "-m", "tests.logging.own_formatter_run", *paths],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    *log_lines, last = done.stdout.splitlines()
    assert last.startswith("SPANS ")
    spans = json.loads(last.removeprefix("SPANS "))
    lines = [json.loads(line) for line in log_lines]
    by_request: dict[str, list[dict[str, object]]] = {}
    for line in lines:
        if "http.request.id" in line:
            by_request.setdefault(str(line["http.request.id"]), []).append(line)
    assert sorted(by_request) == [f"req-{index}" for index in range(len(paths))]
    for index, (path, status) in enumerate(REQUESTS):
        trace_id, span_id = spans[path]
        request_lines = by_request[f"req-{index}"]
        loggers = {line["name"] for line in request_lines}
        assert "fleetobs.access" in loggers
        if status >= 400:
            assert "django.request" in loggers, path
        for line in request_lines:
            assert line["trace.id"] == trace_id, line
            assert line["transaction.id"] == span_id
            assert line["service.name"] == "tests"
            assert "request" not in line
    # Lines outside requests (none expected here but the service's own) still name the service.
    assert all(line["service.name"] == "tests" for line in lines)
