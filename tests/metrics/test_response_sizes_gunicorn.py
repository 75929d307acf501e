"""Response sizes under a real gunicorn: what the client received is what the access line and
the scraped size histogram say, once per request, for every kind of response.

gunicorn sends a file response's file itself (``wsgi.file_wrapper``, with ``sendfile`` for real
files), iterates streamed bodies, and sends no body for HEAD and 304.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.project.views_responses import IN_MEMORY, STATIC_FILE, STREAM_BYTES
from tests.support.procs import Gunicorn, http_request

pytestmark = [pytest.mark.integration]

ENV = {
    "DJANGO_SETTINGS_MODULE": "tests.metrics.sizes_settings",
    "OTEL_SDK_DISABLED": "true",
    "PYTHONWARNINGS": "ignore",  # Django warns that WSGI consumes the async stream in one go
}
FILE_SIZE = STATIC_FILE.stat().st_size
STATIC_ROUTE = "^static/(?P<path>.*)$"
# (method, path, headers, route, status, bytes the client receives, how many times)
REQUESTS: list[tuple[str, str, dict[str, str], str, int, int, int]] = [
    ("GET", "/static/page.txt", {}, STATIC_ROUTE, 200, FILE_SIZE, 5),
    ("GET", "/responses/file/", {}, "responses/file/", 200, FILE_SIZE, 2),
    ("GET", "/responses/memory-file/", {}, "responses/memory-file/", 200, len(IN_MEMORY), 2),
    ("GET", "/responses/stream/", {}, "responses/stream/", 200, STREAM_BYTES, 2),
    ("GET", "/responses/astream/", {}, "responses/astream/", 200, STREAM_BYTES, 2),
    ("GET", "/responses/tagged/", {"If-None-Match": '"v1"'}, "responses/tagged/", 304, 0, 2),
    ("HEAD", "/ok/", {}, "ok/", 200, 0, 2),
    ("HEAD", "/responses/file/", {}, "responses/file/", 200, 0, 1),
]
SIZE = re.compile(
    r'^http_server_response_body_size_bytes_(count|sum)\{http_request_method="([A-Z]+)",'
    r'http_route="([^"]+)"\} ([0-9.e+]+)$',
    re.MULTILINE,
)


def access_lines(log: Path) -> list[dict[str, Any]]:
    lines = []
    for raw in log.read_text(errors="replace").splitlines():
        if raw.startswith("{") and '"fleetobs.access"' in raw:
            lines.append(json.loads(raw))
    return lines


def test_sizes_of_every_response_kind_under_gunicorn(tmp_path: Path) -> None:
    expected_lines = sum(times for *_, times in REQUESTS)
    with Gunicorn("tests.project.wsgi", workers=2, env=ENV, workdir=tmp_path) as app:
        for method, path, headers, _route, status, size, times in REQUESTS:
            for _ in range(times):
                reply = http_request(app.url + path, method=method, headers=headers)
                assert (reply.status, len(reply.body)) == (status, size), path
        # The access line of a streamed body is written once gunicorn has sent it: wait for all.
        deadline = time.monotonic() + 30
        while len(access_lines(app.log_path)) < expected_lines and time.monotonic() < deadline:
            time.sleep(0.05)
        lines = access_lines(app.log_path)
        scrape = http_request(app.url + "/metrics").body.decode()

    seen: Counter[tuple[str, str]] = Counter()
    for line in lines:
        key = (line["http"]["request"]["method"], line["url"]["path"])
        seen[key] += 1
        wanted = next(size for method, path, _h, _r, _s, size, _t in REQUESTS if (method, path) == key)
        assert line["http"]["response"]["body"]["bytes"] == wanted, line["message"]
    assert seen == Counter({(method, path): times for method, path, *_, times in REQUESTS})

    observed: dict[tuple[str, str, str], float] = {
        (kind, method, route): float(value) for kind, method, route, value in SIZE.findall(scrape)
    }
    for method, path, _headers, route, *_ in REQUESTS:
        same_route = [r for r in REQUESTS if (r[0], r[3]) == (method, route)]
        assert observed[("count", method, route)] == sum(r[6] for r in same_route), path
        assert observed[("sum", method, route)] == sum(r[5] * r[6] for r in same_route), path
