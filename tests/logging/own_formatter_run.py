"""Serve a few requests in a project configured by ``own_formatter_settings`` and report its spans.

Run as ``python -m tests.logging.own_formatter_run PATH...``: the project's log lines go to
standard output (its ``LOGGING``), then one last line, ``SPANS {json}``, maps each path to its
server span's ``[trace id, span id]``.
"""

from __future__ import annotations

import json
import os
import sys


def main(paths: list[str]) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.logging.own_formatter_settings"
    import django

    django.setup()
    from django.test import Client

    from instrumentation.tracing.testing import capture_spans

    client = Client(raise_request_exception=False)
    spans: dict[str, list[str]] = {}
    for path in paths:
        with capture_spans() as exporter:
            client.get(path, HTTP_X_REQUEST_ID=f"req-{len(spans)}")
        (server,) = [s for s in exporter.get_finished_spans() if s.kind.name == "SERVER"]
        spans[path] = [format(server.context.trace_id, "032x"), format(server.context.span_id, "016x")]
    sys.stdout.flush()
    print("SPANS " + json.dumps(spans), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
