"""``fleetobs serve SERVER ARGS...``: run an ASGI server the way the instrumentation needs.

uvicorn, hypercorn and granian start their workers from a parent process that never loads the
project and offers no hook around a worker's birth or death; daphne is one process per port.
Without help each worker keeps its metrics in its own memory, and a scrape of ``/metrics``
shows whichever worker answered it. The launcher does, in the server's own process and before
the server's code runs, what the gunicorn hooks do from inside gunicorn::

    fleetobs serve uvicorn project.asgi:application --workers 4
      │ 1. DJANGO_SETTINGS_MODULE from project/asgi.py (not imported), so the parent's own
      │    lines name the service
      │ 2. the metrics directory (PROMETHEUS_MULTIPROC_DIR): a private one, or the one given;
      │    emptied when no running server holds it, then held (shared flock) until exit
      │ 3. the server's logging configuration (ECS JSON, its access log off: ours has the
      │    route and the trace id) unless the command line names one
      │ 4. the project's application served through an ASGI lifespan that flushes pending
      │    spans and log lines when a worker stops (uvicorn, hypercorn, granian; see
      │    :mod:`instrumentation.servers.asgi`)
      └ 5. the server's own entry point, in this same process (same pid, same signals); the
           workers it starts inherit the environment, so each one writes its metrics into the
           directory and any of them answers a scrape with the sum of all

Counters never go backwards: a worker that exits, even by SIGKILL, leaves its files, and they
are read like a live worker's until they are folded into the merged file. The directory is
removed at exit when the launcher created it; one left by a server that was itself killed is
removed by the next launch (nobody holds its lock any more).

Several processes of one service on one host (daphne behind a balancer) can share a directory:
give them the same ``PROMETHEUS_MULTIPROC_DIR``. The first to start empties it; the others join,
and every one answers a scrape with the host's total. Scrape one of them, never all.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import importlib.util
import os
import re
import runpy
import shutil
import sys
import tempfile
from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from instrumentation._process import MULTIPROCESS_DIR_ENV, multiprocess_dir
from instrumentation.servers import logconfig

__all__ = [
    "DIR_ENV",
    "MetricsDirectory",
    "adapt_arguments",
    "find_application",
    "prepare_metrics_directory",
    "run",
]

DIR_ENV = MULTIPROCESS_DIR_ENV
#: Held (shared) by every running server process that writes into the directory.
OWNER_LOCK = ".fleetobs-server.lock"
PRIVATE_PREFIX = "fleetobs-serve-"
_APPLICATION = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*(\(\))?$")


@dataclass
class MetricsDirectory:
    """The directory a server's workers share, held for the life of this process."""

    path: Path
    #: This launcher created it (a private directory): it is removed at exit.
    created: bool
    #: No other running server held it: it was emptied (counters restart from zero).
    emptied: bool
    _handle: IO[str] | None = field(default=None, repr=False)

    def release(self) -> None:
        """Let go of the directory; remove it if it was ours."""
        if self._handle is not None:
            with contextlib.suppress(OSError):
                self._handle.close()
            self._handle = None
        if self.created:
            shutil.rmtree(self.path, ignore_errors=True)


def prepare_metrics_directory(environ: MutableMapping[str, str] | None = None) -> MetricsDirectory:
    """Choose, empty if nobody uses it, and hold the metrics directory; export it in ``environ``."""
    env = os.environ if environ is None else environ
    chosen = multiprocess_dir(env)
    if chosen:
        path = Path(chosen)
        path.mkdir(parents=True, exist_ok=True)
        handle, first = _hold(path)
        created = False
    else:
        _remove_abandoned(Path(tempfile.gettempdir()))
        path = Path(tempfile.mkdtemp(prefix=PRIVATE_PREFIX))
        handle, first = _hold(path)
        created = True
    if first:
        from instrumentation.metrics import multiprocess

        multiprocess.clear_directory(path)
    _share(handle)
    env[DIR_ENV] = str(path)
    return MetricsDirectory(path, created=created, emptied=first, _handle=handle)


def _hold(path: Path) -> tuple[IO[str], bool]:
    """Open the directory's owner lock; ``True`` when this process is alone (exclusive lock).

    A new lock file is created under another name and renamed once locked, so a launcher
    cleaning abandoned directories never sees it unlocked.
    """
    lock = path / OWNER_LOCK
    if not lock.exists():
        descriptor, temporary = tempfile.mkstemp(prefix=f"{OWNER_LOCK}.", dir=path)
        handle = os.fdopen(descriptor, "a")
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            os.link(temporary, lock)  # fails if another launcher got there first
        except FileExistsError:
            handle.close()
        else:
            Path(temporary).unlink()
            return handle, True
        Path(temporary).unlink(missing_ok=True)
    handle = lock.open("a")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return handle, False
    return handle, True


def _share(handle: IO[str]) -> None:
    """From exclusive (or none) to shared: other servers may join this directory now."""
    # Workers forked from this process (granian's) share the open file: the lock lasts until
    # the last of them is gone.
    fcntl.flock(handle, fcntl.LOCK_SH)


def _remove_abandoned(folder: Path) -> None:
    """Remove private directories of servers that are gone (killed before they could)."""
    for candidate in folder.glob(f"{PRIVATE_PREFIX}*"):
        lock = candidate / OWNER_LOCK
        try:
            if candidate.stat().st_uid != os.getuid() or not lock.is_file():
                continue
            with lock.open("a") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                shutil.rmtree(candidate, ignore_errors=True)
        except OSError:  # held by a running server, or not ours to touch
            continue


def find_application(args: Sequence[str]) -> str | None:
    """The ``module:attribute`` argument of a server's command line, if any."""
    for arg in args:
        if not arg.startswith("-") and _APPLICATION.match(arg):
            return arg
    return None


def _has_option(args: Sequence[str], *names: str) -> bool:
    return any(arg == name or arg.startswith(f"{name}=") for arg in args for name in names)


def adapt_arguments(server: str, args: Sequence[str], log_config: Path | None) -> list[str]:
    """``args`` plus what ``server`` needs for our logs, unless the command line says otherwise."""
    added: list[str] = []
    server_access = os.environ.get("FLEETOBS_SERVER_ACCESS_LOG", "0") == "1"
    if server == "uvicorn":
        if log_config is not None and not _has_option(args, "--log-config"):
            added += ["--log-config", str(log_config)]
        if not server_access and not _has_option(args, "--access-log", "--no-access-log"):
            added.append("--no-access-log")
    elif server == "hypercorn":
        if log_config is not None and not _has_option(args, "--log-config"):
            added += ["--log-config", f"json:{log_config}"]
    elif server == "granian":
        if log_config is not None and not _has_option(args, "--log-config"):
            added += ["--log-config", str(log_config)]
        if not _has_option(args, "--interface"):
            added += ["--interface", "asgi"]
    elif server == "daphne" and not server_access and not _has_option(args, "--access-log"):
        added += ["--access-log", os.devnull]
    return [*added, *args]


#: Servers whose workers stop without ``atexit`` and offer the ASGI lifespan instead.
LIFESPAN_SERVERS = frozenset({"uvicorn", "hypercorn", "granian"})
ASGI_TARGET_ENV = "FLEETOBS_ASGI_APPLICATION"


def with_lifespan(server: str, args: Sequence[str], environ: MutableMapping[str, str]) -> list[str]:
    """Serve the project's application through :class:`instrumentation.servers.asgi.Lifespan`
    (``FLEETOBS_ASGI_LIFESPAN=0`` leaves the command line as it is)."""
    application = find_application(args)
    if server not in LIFESPAN_SERVERS or application is None or environ.get("FLEETOBS_ASGI_LIFESPAN") == "0":
        return list(args)
    # Not imported from instrumentation.servers.asgi: that module reads the variable when it is
    # imported, and granian forks its workers from this process.
    environ[ASGI_TARGET_ENV] = application
    return ["instrumentation.servers.asgi:application" if arg == application else arg for arg in args]


def run(server: str, args: Sequence[str]) -> None:
    """Prepare this process and hand it to ``server``'s own command line (does not return
    normally: the server's exit status becomes this process's)."""
    if server not in logconfig.SERVERS:
        raise ValueError(f"unknown server {server!r}; known: {', '.join(logconfig.SERVERS)}")
    if importlib.util.find_spec(server) is None:
        raise ModuleNotFoundError(f"{server} is not installed in this environment", name=server)
    from instrumentation.logging.pipeline import adopt_settings_module

    adopt_settings_module(find_application(args))
    directory = prepare_metrics_directory()
    atexit.register(directory.release)
    log_config = logconfig.write_config_file(server) if server in logconfig.LOGGERS else None
    argv = adapt_arguments(server, with_lifespan(server, args, os.environ), log_config)
    if server != "daphne":
        # A parent that starts workers logs little; no flush thread in a process that may fork.
        from instrumentation.logging import output

        output.unbuffered_in_this_process()
    sys.argv = [server, *argv]
    runpy.run_module(server, run_name="__main__", alter_sys=True)
