"""One configuration in one process, driven over a pipe: ``python -m benchmarks.worker``.

The driver (:mod:`benchmarks.overhead`) starts one worker per configuration with standard
output on ``/dev/null`` (where both this project's and the anchors' log lines go) and sends
commands, one JSON object per line, on standard input; answers go back on the file descriptor
given by ``--reply-fd``:

``{"cmd": "run", "view": "trivial", "requests": 2000}``  -> ``{"ns": ..., "cpu_ns": ...}`` wall
                                                            and process CPU time (all threads) for
                                                            the requests and exporting their spans.
``{"cmd": "profile", "view": ..., "requests": ...}``    -> a pyinstrument (or cProfile) summary.
``{"cmd": "quit"}``                                     -> final counts, then exit.

On start the worker sets up Django, seeds the database, warms both views up and runs a probe:
a few requests with standard output captured, to report how many log lines a request writes,
the response status and whether spans reached the sink.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import tempfile
import time
from typing import Any

VIEWS = {
    "trivial": "/trivial/",
    "orm": "/orm/",
    "applog": "/applog/",
    "raw-5": "/db/raw/5/",
    "raw-50": "/db/raw/50/",
    "orm-5": "/db/orm/5/",
    "orm-50": "/db/orm/50/",
}
WARMUP = int(os.environ.get("FLEETOBS_BENCH_WARMUP", "300"))
PROBE = 5
MESSAGE_BYTES = b"order placed"
_timings: dict[str, float] = {}


def rss_kib() -> dict[str, int]:
    """Resident memory now and at its peak (``VmRSS``, ``VmHWM``), in KiB."""
    found = {}
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, value = line.split(":", 1)
                found[key] = int(value.split()[0])
    return {"rss_kib": found.get("VmRSS", 0), "peak_kib": found.get("VmHWM", 0)}


def _setup(config_name: str) -> tuple[Any, Any]:
    os.environ["FLEETOBS_BENCH_CONFIG"] = config_name
    os.environ["DJANGO_SETTINGS_MODULE"] = "benchmarks.project.settings"
    # Importing wsgi runs django.setup() (the import time reported); views imports its models
    # lazily.
    started = time.perf_counter()
    from benchmarks.project import wsgi

    _timings["import_s"] = time.perf_counter() - started
    from benchmarks.project import views

    views.seed()
    return wsgi.application, wsgi.CONFIG


def _probe(app: Any, config: Any) -> dict[str, Any]:
    """Serve a few requests with fd 1 captured: log lines per request, statuses, spans."""
    from benchmarks import sinks
    from benchmarks.project import minimal, wiring
    from benchmarks.wsgi_client import Client
    from instrumentation.logging.output import flush_all

    def write_pending_lines() -> None:  # batched for standard output (LOG_FLUSH_INTERVAL)
        sys.stdout.flush()
        flush_all()
        minimal.flush()

    def capture(path: str) -> tuple[Client, list[bytes]]:
        write_pending_lines()  # earlier lines are not this probe's
        saved = os.dup(1)
        with tempfile.TemporaryFile() as captured:
            os.dup2(captured.fileno(), 1)
            try:
                client = Client(app, path)
                client.serve(PROBE)
                write_pending_lines()
            finally:
                os.dup2(saved, 1)
                os.close(saved)
            captured.seek(0)
            output = captured.read()
        return client, [line for line in output.splitlines() if line.strip()]

    client, lines = capture(VIEWS["trivial"])
    per_view = {view: len(capture(path)[1]) / PROBE for view, path in VIEWS.items() if view != "trivial"}
    _, app_lines = capture(VIEWS["applog"])
    wiring.flush_spans(config)
    sample = lines[-1].decode("utf-8", "replace") if lines else ""
    app_sample = next((line for line in app_lines if MESSAGE_BYTES in line), b"").decode("utf-8", "replace")
    return {
        "statuses": client.statuses,
        "log_lines_per_request": len(lines) / PROBE,
        "log_lines_per_request_by_view": per_view,
        "log_line_sample": sample[:2000],
        "log_line_bytes": len(lines[-1]) if lines else 0,
        "app_log_line_sample": app_sample[:2000],
        "spans": sinks.exported("ours") or sinks.exported("anchor") or wiring.received_spans(config),
        "sink": wiring.sink_description(config),
    }


def _profile(app: Any, config: Any, view: str, requests: int) -> dict[str, Any]:
    from benchmarks import profiling
    from benchmarks.project import wiring
    from benchmarks.wsgi_client import Client

    client = Client(app, VIEWS[view])

    def work() -> None:
        client.serve(requests)
        wiring.flush_spans(config)

    return profiling.profile(work, requests)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.worker")
    parser.add_argument("--config", required=True)
    parser.add_argument("--reply-fd", type=int, required=True)
    args = parser.parse_args(argv)
    reply = os.fdopen(args.reply_fd, "w", buffering=1)

    def answer(payload: dict[str, Any]) -> None:
        reply.write(json.dumps(payload) + "\n")
        reply.flush()

    started = time.perf_counter()
    app, config = _setup(args.config)
    setup_s = time.perf_counter() - started
    from benchmarks.project import wiring
    from benchmarks.wsgi_client import Client

    clients = {view: Client(app, path) for view, path in VIEWS.items()}
    for client in clients.values():
        client.serve(WARMUP)
    wiring.flush_spans(config)
    probe = _probe(app, config)
    probe["startup_s"] = time.perf_counter() - started
    probe["setup_s"] = setup_s
    probe["import_s"] = _timings["import_s"]
    probe["memory"] = rss_kib()
    answer({"ready": True, "pid": os.getpid(), "probe": probe})

    for line in sys.stdin:
        command = json.loads(line)
        cmd = command.get("cmd")
        if cmd == "run":
            client = clients[command["view"]]
            gc.collect()
            started_cpu = time.process_time_ns()
            started_ns = time.perf_counter_ns()
            client.serve(int(command["requests"]))
            wiring.flush_spans(config)
            answer(
                {
                    "ns": time.perf_counter_ns() - started_ns,
                    "cpu_ns": time.process_time_ns() - started_cpu,
                    "statuses": client.statuses,
                }
            )
        elif cmd == "profile":
            answer(_profile(app, config, command["view"], int(command["requests"])))
        elif cmd == "quit":
            from benchmarks import sinks

            answer(
                {
                    "spans": sinks.exported("ours")
                    or sinks.exported("anchor")
                    or wiring.received_spans(config),
                    "memory": rss_kib(),
                }
            )
            return 0
        else:
            answer({"error": f"unknown command {cmd!r}"})
    return 0


if __name__ == "__main__":
    sys.exit(main())
