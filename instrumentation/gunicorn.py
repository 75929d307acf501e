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
* ``post_fork`` tells the metrics how many threads each worker serves, and folds a dead
  worker that had this worker's pid before the new one records anything;
* ``child_exit`` (in the master, for every worker that ends, killed ones included) marks the
  worker dead; the next scrape folds its counters into one merged file, so totals never go
  backwards and the scrape does not slow down as workers are recycled;
* ``worker_exit`` (in the worker) flushes pending spans and log records, for at most
  :data:`FLUSH_BUDGET` (4) seconds together, whatever state the backends are in, so a worker
  is gone within the documented 5 seconds;
* ``on_exit`` removes the temporary directory this module created.

No hook raises or waits on another process. gunicorn runs ``child_exit`` from its SIGCHLD
handling, which older releases (23 and before) do inside the signal handler itself, where a
hook that took a lock could be re-entered while holding it and hang the master for good: there
the hook only creates one empty marker file. A hook that cannot do its work (an unwritable
metrics directory, a metrics port already taken) says so once in gunicorn's log and lets the
server start and serve.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from typing import Any

from gunicorn.glogging import Logger as GunicornLogger

from instrumentation._process import MULTIPROCESS_DIR_ENV, multiprocess_dir
from instrumentation.metrics import multiprocess

_CREATED_ENV = "FLEETOBS_CREATED_MULTIPROC_DIR"
#: Seconds a worker may spend flushing spans and log lines when it exits, both together: the
#: documented bound is 5 seconds for the whole exit, and the interpreter's own exit takes some.
FLUSH_BUDGET = 4.0

if not multiprocess_dir():
    try:
        os.environ[MULTIPROCESS_DIR_ENV] = tempfile.mkdtemp(prefix="fleetobs-metrics-")
        os.environ[_CREATED_ENV] = os.environ[MULTIPROCESS_DIR_ENV]
    except OSError:  # no writable temporary directory: each worker then counts alone
        pass


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

    def setup(self, cfg: Any) -> None:
        # gunicorn sets its logger up before its first line ("Starting gunicorn"): find the
        # service's settings module now, so the master's lines carry the service's name too.
        with contextlib.suppress(Exception):
            from instrumentation.logging.pipeline import adopt_settings_module

            adopt_settings_module(getattr(cfg, "wsgi_app", None) or getattr(cfg, "default_proc_name", None))
        super().setup(cfg)

    def access(self, resp: Any, req: Any, environ: Any, request_time: Any) -> None:
        if self.access_log.isEnabledFor(logging.INFO):
            super().access(resp, req, environ, request_time)


if os.environ.get("FLEETOBS_GUNICORN_JSON_LOGS", "1") != "0":
    _config = _gunicorn_logconfig()
    if _config:
        logconfig_dict = _config
        logger_class = "instrumentation.gunicorn.FleetLogger"


_warned: set[str] = set()


def _warn(server: Any, what: str, message: str, *args: Any) -> None:
    """One line in gunicorn's error log, once per kind of trouble (workers inherit the master's
    record, so a directory the master found unwritable is not reported again by every worker);
    a broken logger must not stop the hook either."""
    if what in _warned:
        return
    _warned.add(what)
    with contextlib.suppress(Exception):
        server.log.warning("fleetobs: %s", message % args)


def on_starting(server: Any) -> None:
    try:
        multiprocess.clear_directory()
    except Exception as exc:  # noqa: BLE001 - serve anyway; counters may then include an old run's
        _warn(server, "directory", "could not empty the metrics directory %s: %s", multiprocess_dir(), exc)
    try:
        from instrumentation.logging import output

        # The master logs little; no flush thread in a process that forks workers.
        output.unbuffered_in_this_process()
    except Exception as exc:  # noqa: BLE001
        _warn(server, "output", "could not set up log output in the master: %s", exc)


def when_ready(server: Any) -> None:
    """Serve the instance's metrics from the master on ``FLEETOBS_METRICS_PORT`` when set."""
    port = os.environ.get("FLEETOBS_METRICS_PORT")
    if not port:
        return
    address = os.environ.get("FLEETOBS_METRICS_ADDRESS", "0.0.0.0")  # noqa: S104 - scraped from outside
    try:
        from prometheus_client import CollectorRegistry, start_http_server

        registry = CollectorRegistry()
        registry.register(multiprocess.FleetCollector())
        start_http_server(int(port), addr=address, registry=registry)
    except Exception as exc:  # noqa: BLE001 - the workers' /metrics still answers
        _warn(
            server,
            "port",
            "no metrics port %s:%s (%s); the workers' /metrics still answers",
            address,
            port,
            exc,
        )
        return
    server.log.info("fleetobs: metrics on %s:%s", address, port)


def post_fork(server: Any, worker: Any) -> None:
    try:
        if multiprocess_dir():
            multiprocess.claim_pid()
    except Exception as exc:  # noqa: BLE001
        _warn(
            server,
            "directory",
            "could not fold the metrics of a dead worker with pid %s: %s",
            os.getpid(),
            exc,
        )
    from instrumentation.metrics import runtime

    with contextlib.suppress(Exception):
        runtime.set_capacity(getattr(worker.cfg, "threads", 1) or 1)


def child_exit(server: Any, worker: Any) -> None:
    """Mark the worker dead; its metrics are folded outside the signal path (see above)."""
    with contextlib.suppress(Exception):
        if multiprocess_dir():
            multiprocess.note_process_dead(worker.pid)


def worker_exit(server: Any, worker: Any) -> None:
    """Flush spans and log lines, both at once, for at most :data:`FLUSH_BUDGET` seconds in all.

    Each flush runs in its own daemon thread: a collector or cluster that is dead, refusing or
    never answering costs the worker its budget, never more, and interpreter exit does not
    wait for a send still hanging (``atexit`` does not flush a second time either).
    """
    try:
        from instrumentation import logging as fleet_logging
        from instrumentation import tracing

        flushes = (
            ("spans", lambda: tracing.shutdown(FLUSH_BUDGET)),
            ("logs", lambda: fleet_logging.shutdown(FLUSH_BUDGET)),
        )
    except Exception as exc:  # noqa: BLE001
        _warn(server, "flush", "nothing flushed on worker exit: %s", exc)
        return
    deadline = time.monotonic() + FLUSH_BUDGET
    threads = []
    for name, flush in flushes:
        thread = threading.Thread(
            target=_flush, args=(server, flush), name=f"fleetobs-exit-{name}", daemon=True
        )
        thread.start()
        threads.append(thread)
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))


def _flush(server: Any, flush: Callable[[], None]) -> None:
    try:
        flush()
    except Exception as exc:  # noqa: BLE001
        _warn(server, "flush", "flush on worker exit failed: %s", exc)


def on_exit(server: Any) -> None:
    created = os.environ.get(_CREATED_ENV)
    if created and created == multiprocess_dir():
        shutil.rmtree(created, ignore_errors=True)
