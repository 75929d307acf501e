"""Log throughput: JSON lines per second for the same event through different pipelines.

Every pipeline formats the same event (a message, a logger name, level, timestamp and eleven
fields, ECS names where ECS has one) as one JSON line and writes it to a null stream (an object
whose ``write`` and ``flush`` do nothing), so only the logging work is measured:

``ours-stdlib``          this project's pipeline, logged through the standard library.
``ours-structlog``       this project's pipeline, logged through structlog.
``python-json-logger``   ``pythonjsonlogger`` ``JsonFormatter`` on a ``StreamHandler``.
``structlog``            structlog's JSON renderer and ``WriteLogger`` (its basic JSON setup).
``structlog-orjson``     structlog as its performance guide advises: orjson, ``BytesLogger``.

Each pipeline runs in its own process (logging configuration is global); lines per second are
the median over the rounds. One line of each is kept to show the fields are the same.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from benchmarks import stats

ROOT = Path(__file__).resolve().parent.parent
PIPELINES = ("ours-stdlib", "ours-structlog", "python-json-logger", "structlog", "structlog-orjson")
MESSAGE = "order placed"
LOGGER = "shop.orders"
FIELDS: dict[str, Any] = {
    "http.request.method": "POST",
    "url.path": "/shop/orders/",
    "http.response.status_code": 201,
    "event.duration": 1834000,
    "trace.id": "4bf92f3577b34da6a3ce929d0e0e4736",
    "span.id": "00f067aa0ba902b7",
    "client.ip": "203.0.113.7",
    "user_agent.original": "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0",
    "user.id": "42",
    "order_id": 1234,
    "cart_items": 3,
}


class NullStream:
    """Accepts text or bytes and drops it; keeps the last line for the sample."""

    def __init__(self) -> None:
        self.last: Any = ""
        self.lines = 0

    def write(self, data: Any) -> int:
        self.last = data
        self.lines += 1
        return len(data)

    def flush(self) -> None:
        return None


def _ours(stream: NullStream, api: str) -> Callable[[], None]:
    from django.conf import settings

    settings.configure(
        FLEET_OBSERVABILITY={"SERVICE_NAME": "bench", "SERVICE_VERSION": "1.0.0", "ENVIRONMENT": "bench"},
        INSTALLED_APPS=[],
    )
    import django

    django.setup()
    from instrumentation.logging import pipeline

    pipeline.configure(stream=stream)  # type: ignore[arg-type]
    if api == "stdlib":
        logger = logging.getLogger(LOGGER)
        return lambda: logger.info(MESSAGE, extra=FIELDS)
    import structlog

    log = structlog.get_logger(LOGGER)
    return lambda: log.info(MESSAGE, **FIELDS)


def _python_json_logger(stream: NullStream) -> Callable[[], None]:
    try:
        from pythonjsonlogger.json import JsonFormatter
    except ImportError:  # python-json-logger < 3.1
        # The 3.x compatibility shim imports the name without re-exporting it.
        from pythonjsonlogger.jsonlogger import JsonFormatter  # type: ignore[attr-defined]
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    logger = logging.getLogger(LOGGER)
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return lambda: logger.info(MESSAGE, extra=FIELDS)


def _structlog(stream: NullStream, fast: bool) -> Callable[[], None]:
    import structlog

    if fast:
        import orjson

        renderer = structlog.processors.JSONRenderer(serializer=orjson.dumps)
        factory: Any = structlog.BytesLoggerFactory(file=stream)  # type: ignore[arg-type]
    else:
        renderer = structlog.processors.JSONRenderer()
        factory = structlog.WriteLoggerFactory(file=stream)  # type: ignore[arg-type]
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        logger_factory=factory,
        cache_logger_on_first_use=True,
    )
    log = structlog.get_logger().bind(logger=LOGGER)
    return lambda: log.info(MESSAGE, **FIELDS)


def build(name: str, stream: NullStream) -> Callable[[], None]:
    if name == "ours-stdlib":
        return _ours(stream, "stdlib")
    if name == "ours-structlog":
        return _ours(stream, "structlog")
    if name == "python-json-logger":
        return _python_json_logger(stream)
    if name == "structlog":
        return _structlog(stream, fast=False)
    if name == "structlog-orjson":
        return _structlog(stream, fast=True)
    raise ValueError(f"unknown pipeline {name!r}")


def measure(name: str, lines: int, rounds: int) -> dict[str, Any]:
    """In this process: build the pipeline, then time ``rounds`` x ``lines`` log calls."""
    stream = NullStream()
    emit = build(name, stream)
    for _ in range(500):
        emit()
    sample = stream.last.decode() if isinstance(stream.last, bytes) else stream.last
    rates: list[float] = []
    for _ in range(rounds):
        before = stream.lines
        started = time.perf_counter()
        for _ in range(lines):
            emit()
        elapsed = time.perf_counter() - started
        if stream.lines - before < lines:
            raise RuntimeError(f"{name}: wrote {stream.lines - before} of {lines} lines")
        rates.append(lines / elapsed)
    return {"lines_per_second": stats.summary(rates, 0), "sample": sample.strip()}


def run(
    pipelines: Sequence[str] = PIPELINES,
    lines: int = 20000,
    rounds: int = 5,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    results: dict[str, Any] = {"lines_per_round": lines, "rounds": rounds, "fields": FIELDS, "pipelines": {}}
    for name in pipelines:
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        env.pop("DJANGO_SETTINGS_MODULE", None)
        completed = subprocess.run(
            [sys.executable, "-m", "benchmarks.logs", name, "--lines", str(lines), "--rounds", str(rounds)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
        if completed.returncode != 0:
            raise RuntimeError(f"log pipeline {name} failed:\n{completed.stderr[-3000:]}")
        entry = json.loads(completed.stdout.strip().splitlines()[-1])
        sample = json.loads(entry["sample"])
        entry["sample_keys"] = sorted(_flat_keys(sample))
        results["pipelines"][name] = entry
        log(f"logs: {name}: {entry['lines_per_second']['median']:.0f} lines/s")
    ours = results["pipelines"].get("ours-stdlib", {}).get("lines_per_second", {}).get("median")
    for entry in results["pipelines"].values():
        entry["relative_to_ours_stdlib"] = stats.ratio(entry["lines_per_second"]["median"], ours, 2)
    return results


def _flat_keys(value: Any, prefix: str = "") -> list[str]:
    if isinstance(value, dict):
        keys: list[str] = []
        for key, item in value.items():
            keys.extend(_flat_keys(item, f"{prefix}.{key}" if prefix else str(key)))
        return keys
    return [prefix]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.logs")
    parser.add_argument("pipeline", choices=PIPELINES)
    parser.add_argument("--lines", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="a profile of --lines lines instead")
    args = parser.parse_args(argv)
    if args.profile:
        print(json.dumps(profile(args.pipeline, args.lines)))
        return 0
    print(json.dumps(measure(args.pipeline, args.lines, args.rounds)))
    return 0


def profile(name: str, lines: int) -> dict[str, Any]:
    """In this process: where one line's time goes (the summary's "request" is a line)."""
    from benchmarks import profiling

    stream = NullStream()
    emit = build(name, stream)
    for _ in range(500):
        emit()

    def work() -> None:
        for _ in range(lines):
            emit()

    started = time.process_time_ns()
    work()
    unprofiled = (time.process_time_ns() - started) / lines / 1000
    result = profiling.profile(work, lines)
    result["unprofiled_cpu_us"] = round(unprofiled, 2)
    return result


def run_profile(name: str = "ours-stdlib", lines: int = 50000) -> dict[str, Any]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("DJANGO_SETTINGS_MODULE", None)
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks.logs", name, "--lines", str(lines), "--profile"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"log pipeline profile {name} failed:\n{completed.stderr[-3000:]}")
    answer: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return answer


if __name__ == "__main__":
    sys.exit(main())
