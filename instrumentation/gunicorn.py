"""gunicorn server hooks: ``gunicorn -c python:instrumentation.gunicorn project.wsgi``.

Or, in an existing config file::

    from instrumentation.gunicorn import child_exit, on_exit, on_starting, post_fork, worker_exit

What they do:

* importing this module (in the master, before any worker exists) points
  ``PROMETHEUS_MULTIPROC_DIR`` at a private temporary directory unless one is set, so every
  worker writes its metrics where the scrape can sum them;
* ``when_ready`` serves ``/metrics`` from the master on ``FLEETOBS_METRICS_PORT`` when set, so
  the scrape never competes with requests for a worker;
* ``on_starting`` empties that directory: a restarted server starts its counters from zero
  (Prometheus reads that as a counter reset) instead of mixing in a previous run's files;
* ``post_fork`` tells the metrics how many threads each worker serves;
* ``child_exit`` (in the master, for every worker that ends, killed ones included) folds the
  dead worker's counters into one merged file, so totals never go backwards and the scrape does
  not slow down as workers are recycled;
* ``worker_exit`` (in the worker) flushes pending spans and log records;
* ``on_exit`` removes the temporary directory this module created.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from typing import Any

from gunicorn.glogging import Logger as GunicornLogger

from instrumentation.metrics import multiprocess

_CREATED_ENV = "FLEETOBS_CREATED_MULTIPROC_DIR"

if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="fleetobs-metrics-")
    os.environ[_CREATED_ENV] = os.environ["PROMETHEUS_MULTIPROC_DIR"]


def _gunicorn_logconfig() -> dict[str, Any] | None:
    try:
        from instrumentation.logging import gunicorn_logconfig
    except ImportError:
        return None
    try:
        config: dict[str, Any] | None = gunicorn_logconfig()
    except Exception:  # noqa: BLE001 - fall back to gunicorn's own logging
        return None
    return config


class FleetLogger(GunicornLogger):  # type: ignore[misc]
    """gunicorn's logger, minus the access-log work when the access log is off.

    With a ``logconfig_dict``, gunicorn builds every request's access-log atoms even when the
    ``gunicorn.access`` logger discards the line: tens of microseconds per request for nothing.
    """

    def access(self, resp: Any, req: Any, environ: Any, request_time: Any) -> None:
        if self.access_log.isEnabledFor(logging.INFO):
            super().access(resp, req, environ, request_time)


if os.environ.get("FLEETOBS_GUNICORN_JSON_LOGS", "1") != "0":
    _config = _gunicorn_logconfig()
    if _config:
        logconfig_dict = _config
        logger_class = "instrumentation.gunicorn.FleetLogger"


def on_starting(server: Any) -> None:
    from instrumentation.logging import output

    multiprocess.clear_directory()
    # The master logs little; no flush thread in a process that forks workers.
    output.unbuffered_in_this_process()


def when_ready(server: Any) -> None:
    """Serve the instance's metrics from the master on ``FLEETOBS_METRICS_PORT`` when set."""
    port = os.environ.get("FLEETOBS_METRICS_PORT")
    if not port:
        return
    from prometheus_client import CollectorRegistry, start_http_server

    registry = CollectorRegistry()
    registry.register(multiprocess.FleetCollector())
    address = os.environ.get("FLEETOBS_METRICS_ADDRESS", "0.0.0.0")  # noqa: S104 - scraped from outside
    start_http_server(int(port), addr=address, registry=registry)
    server.log.info("fleetobs: metrics on %s:%s", address, port)


def post_fork(server: Any, worker: Any) -> None:
    from instrumentation.metrics import runtime

    with contextlib.suppress(Exception):
        runtime.set_capacity(getattr(worker.cfg, "threads", 1) or 1)


def child_exit(server: Any, worker: Any) -> None:
    try:
        multiprocess.mark_process_dead(worker.pid)
    except Exception:
        server.log.exception("fleetobs: could not merge metrics of worker %s", worker.pid)


def worker_exit(server: Any, worker: Any) -> None:
    from instrumentation import logging as fleet_logging
    from instrumentation import tracing

    for flush in (tracing.shutdown, fleet_logging.shutdown):
        try:
            flush()
        except Exception:
            server.log.exception("fleetobs: flush on worker exit failed")


def on_exit(server: Any) -> None:
    created = os.environ.get(_CREATED_ENV)
    if created and created == os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        shutil.rmtree(created, ignore_errors=True)
