"""Real servers on loopback ports, each in its own process group, for the demo and the tests.

Everything that ``fleetobs demo`` and the integration tests start goes through this module, so
there is exactly one implementation of "start it, wait until it answers, stop it and everything it
forked"::

    ManagedProcess            Popen in a new session (process group id == pid), output to a log
    ├── Gunicorn              a WSGI app under gunicorn with N workers and its own multiproc dir
    ├── Prometheus            writes prometheus.yml, exemplar storage on, HTTP API helpers
    └── Alertmanager          writes alertmanager.yml, clustering off, HTTP API helpers
    WebhookReceiver           an in-process threaded HTTP server recording Alertmanager webhooks
    TraceSink                 an in-process OTLP/HTTP endpoint that accepts spans and counts them

Stopping sends SIGTERM to the whole process group, waits, then SIGKILLs the group, so gunicorn
workers and anything else a server forked go away with it. Binaries are looked up on ``PATH``; a
missing one raises :class:`MissingBinaryError`, whose message carries the command that installs it.

Only the standard library is used here (plus PyYAML, a core dependency), so the module works in any
environment the package is installed in.

Why it lives here: ``fleetobs demo`` ships in the wheel and starts these servers, so the one
implementation must be importable from the installed package, and the shipped package never
imports ``tests/``. The tests reach it through ``tests.support.procs`` (which adds the suite's
policy for missing binaries), the benchmarks import it directly. ``scripts/wheel_check.py`` keeps
its own few lines: it runs on a bare ``python3`` before any virtualenv exists.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self

import yaml

#: Debian package that provides each binary we start.
DEBIAN_PACKAGES: dict[str, str] = {
    "prometheus": "prometheus",
    "promtool": "prometheus",
    "prometheus-alertmanager": "prometheus-alertmanager",
    "amtool": "prometheus-alertmanager",
}

LOOPBACK = "127.0.0.1"


class MissingBinaryError(FileNotFoundError):
    """A server binary is not on ``PATH``; the message says how to install it."""

    def __init__(self, binary: str) -> None:
        self.binary = binary
        package = DEBIAN_PACKAGES.get(binary, binary)
        self.install_command = f"sudo apt-get install -y {package}"
        super().__init__(f"{binary!r} not found on PATH; install it with: {self.install_command}")


class ServerFailedError(RuntimeError):
    """A server exited or never became ready; the message ends with the tail of its log."""


def find_binary(name: str) -> str:
    """Absolute path of ``name`` on ``PATH``, or :class:`MissingBinaryError`."""
    path = shutil.which(name)
    if path is None:
        raise MissingBinaryError(name)
    return path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class HttpReply:
    """What :func:`http_request` returns: status, headers and body of one response."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return json.loads(self.body)


def http_request(
    url: str,
    *,
    method: str = "GET",
    data: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 10.0,
) -> HttpReply:
    """One HTTP request; error statuses are returned, not raised. Connection errors raise OSError."""
    request = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))  # noqa: S310 - URLs are ours
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - loopback URLs only
            return HttpReply(response.status, dict(response.headers.items()), response.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return HttpReply(exc.code, dict(exc.headers.items()), exc.read())


def wait_for_http(
    url: str,
    timeout: float = 30.0,
    expect_status: int | Iterable[int] | None = None,
    *,
    interval: float = 0.1,
    process: subprocess.Popen[bytes] | None = None,
) -> HttpReply:
    """Poll ``url`` until it answers (with ``expect_status`` if given) and return that reply.

    Raises :class:`TimeoutError` after ``timeout`` seconds, or :class:`ServerFailedError` as soon as
    ``process`` (the server being waited for) exits.
    """
    wanted: set[int] | None
    if expect_status is None:
        wanted = None
    elif isinstance(expect_status, int):
        wanted = {expect_status}
    else:
        wanted = set(expect_status)
    deadline = time.monotonic() + timeout
    last: str = "no attempt"
    while True:
        if process is not None and process.poll() is not None:
            raise ServerFailedError(f"pid {process.pid} exited ({process.returncode}) before {url} answered")
        try:
            reply = http_request(url, timeout=min(5.0, max(0.5, timeout)))
        except OSError as exc:
            last = f"{type(exc).__name__}: {exc}"
        else:
            if wanted is None or reply.status in wanted:
                return reply
            last = f"status {reply.status}"
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{url} did not answer as expected within {timeout:.0f}s (last: {last})")
        time.sleep(interval)


def child_pids(pid: int) -> list[int]:
    """Direct children of ``pid`` (Linux ``/proc``), sorted."""
    children: list[int] = []
    proc = Path("/proc")
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name is in parentheses and may itself contain spaces or parentheses.
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 1 and int(fields[1]) == pid:
            children.append(int(entry.name))
    return sorted(children)


def group_pids(pgid: int) -> list[int]:
    """Live (non-zombie) processes whose process group is ``pgid``."""
    members: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 2 and fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return sorted(members)


def pid_alive(pid: int) -> bool:
    """True when ``pid`` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2 :].split()[0] != "Z"


class ManagedProcess:
    """A command run in its own process group, with its output in ``log_path``.

    Use as a context manager or call :meth:`start` / :meth:`stop`. Subclasses build the command in
    :meth:`command` and say how readiness is checked in :meth:`wait_ready`.
    """

    #: Name used in log file names and messages.
    name = "process"
    #: Seconds to wait for a clean exit after SIGTERM before the group is SIGKILLed.
    stop_timeout = 10.0

    def __init__(
        self,
        *,
        workdir: str | Path | None = None,
        env: Mapping[str, str] | None = None,
        cwd: str | Path | None = None,
        ready_timeout: float = 60.0,
        inherit_env: bool = True,
        discard_stdout: bool = False,
    ) -> None:
        self._own_workdir = workdir is None
        if workdir is None:
            workdir = tempfile.mkdtemp(prefix=f"{self.name}-")
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.extra_env = dict(env or {})
        #: False: ``env`` is the whole environment, nothing is inherited from this process.
        self.inherit_env = inherit_env
        self.cwd = Path(cwd) if cwd is not None else None
        self.ready_timeout = ready_timeout
        self.log_path = self.workdir / f"{self.name}.log"
        #: True: standard output goes to /dev/null, only standard error to ``log_path`` (a
        #: benchmark, where writing the application's log lines to a file would be measured too).
        self.discard_stdout = discard_stdout
        self.process: subprocess.Popen[bytes] | None = None

    # -- to override ---------------------------------------------------------------------------
    def command(self) -> list[str]:
        raise NotImplementedError

    def environment(self) -> dict[str, str]:
        env = dict(os.environ) if self.inherit_env else {}
        env.update(self.extra_env)
        return env

    def wait_ready(self) -> None:
        """Block until the process serves; the default only checks it is still running."""
        time.sleep(0.2)
        self._check_running()

    # -- lifecycle -----------------------------------------------------------------------------
    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError(f"{self.name} is not started")
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> Self:
        """:meth:`launch`, then :meth:`ensure_ready`."""
        return self.launch().ensure_ready()

    def launch(self) -> Self:
        """Start the process without waiting for it (several servers can boot side by side)."""
        if self.process is not None:
            raise RuntimeError(f"{self.name} already started (pid {self.process.pid})")
        cmd = self.command()
        with self.log_path.open("ab") as log:
            log.write(f"$ {' '.join(cmd)}\n".encode())
            log.flush()
            self.process = subprocess.Popen(  # noqa: S603 - the command is built from our own arguments
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL if self.discard_stdout else log,
                stderr=log if self.discard_stdout else subprocess.STDOUT,
                env=self.environment(),
                cwd=self.cwd,
                start_new_session=True,  # own process group: stop() kills everything it forks
            )
        return self

    def ensure_ready(self) -> Self:
        """:meth:`wait_ready`; a process that does not become ready is stopped, and the error
        carries the end of its log."""
        try:
            self.wait_ready()
        except (TimeoutError, ServerFailedError) as exc:
            self.stop()
            tail = self.log_tail()
            message = f"{self.name} did not become ready: {exc}\n--- {self.log_path} ---\n{tail}"
            raise ServerFailedError(message) from exc
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> int | None:
        """Stop the whole process group; return the leader's exit code (None if never started)."""
        if self.process is None:
            return None
        pgid = self.process.pid
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=self.stop_timeout)
        # Whatever is left in the group (a stuck leader, orphaned workers) is killed outright.
        deadline = time.monotonic() + self.stop_timeout
        while group_pids(pgid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGKILL)
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=self.stop_timeout)
        return self.process.returncode

    def terminate(self, timeout: float = 60.0) -> float:
        """SIGTERM the leader alone, as a supervisor would, and wait for it to exit; return the
        seconds it took. A pre-forking server stops its own workers; :meth:`stop` (or leaving the
        ``with`` block) still clears whatever is left of the group."""
        if self.process is None:
            raise RuntimeError(f"{self.name} is not started")
        started = time.monotonic()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.stop()
                raise
        return time.monotonic() - started

    def cleanup(self) -> None:
        """Remove the working directory when this object created it."""
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, *exc_info: object) -> None:
        self.stop()
        if exc_type is None:
            self.cleanup()  # a temporary workdir is kept only when something went wrong

    def output_lines(self) -> list[str]:
        """Every non-empty line the process wrote, without the ``$ command`` line that
        :meth:`start` puts first; split on newlines only (U+2028 may sit inside a JSON string)."""
        text = self.log_path.read_bytes().decode("utf-8", errors="replace")
        return [line for line in text.split("\n") if line.strip() and not line.startswith("$ ")]

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def _check_running(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            raise ServerFailedError(f"{self.name} exited with {self.process.returncode}")

    def __repr__(self) -> str:
        state = f"pid={self.process.pid}" if self.process else "not started"
        return f"<{type(self).__name__} {state}>"


class HttpServerProcess(ManagedProcess):
    """A managed process that serves HTTP on ``127.0.0.1:<port>``."""

    ready_path = "/"

    def __init__(self, *, port: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.port = port or free_port()

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def address(self) -> str:
        """``host:port``, as Prometheus scrape targets want it."""
        return f"{LOOPBACK}:{self.port}"

    def wait_ready(self) -> None:
        wait_for_http(self.url + self.ready_path, self.ready_timeout, expect_status=200, process=self.process)

    def get(self, path: str, **kwargs: Any) -> HttpReply:
        return http_request(self.url + path, **kwargs)

    def worker_pids(self) -> list[int]:
        """Pids of the current workers (children of the main process) of a pre-forking server."""
        return [pid for pid in child_pids(self.pid) if pid_alive(pid)]

    def wait_for_workers(
        self, count: int, timeout: float = 60.0, *, exclude: Iterable[int] = ()
    ) -> list[int]:
        """Wait until ``count`` workers run, none of them in ``exclude``; return their pids."""
        excluded = set(exclude)
        deadline = time.monotonic() + timeout
        while True:
            self._check_running()
            pids = self.worker_pids()
            if len(pids) == count and not excluded.intersection(pids):
                return pids
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{self.name} has workers {pids}, wanted {count} not in {sorted(excluded)}"
                )
            time.sleep(0.05)

    def get_json(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        reply = self.get(path + query)
        if reply.status != 200:
            raise ServerFailedError(f"GET {path} -> {reply.status}: {reply.text[:500]}")
        return reply.json()


class Gunicorn(HttpServerProcess):
    """``gunicorn -c <config> <wsgi_module>:application`` with ``workers`` workers.

    Each instance gets its own empty ``PROMETHEUS_MULTIPROC_DIR`` (unless ``env`` sets one, or
    ``multiproc=False`` leaves it unset).
    ``DJANGO_SETTINGS_MODULE`` is not inherited from the calling process (a test run has its own);
    pass ``settings=`` or put it in ``env`` to choose, otherwise the WSGI module's default applies.
    ``wsgi_module=None`` leaves the application to the config file (its ``wsgi_app``);
    ``wrapper`` is a command gunicorn runs under (``("opentelemetry-instrument",)``), which must
    exec it so the master keeps the started pid. Ready means the ready path answers (with
    ``ready_status`` if given) and every worker has booted.
    """

    name = "gunicorn"
    ready_path = "/healthz"

    def __init__(
        self,
        wsgi_module: str | None,
        *,
        workers: int = 2,
        env: Mapping[str, str] | None = None,
        config: str | None = "python:instrumentation.gunicorn",
        extra_args: Sequence[str] = (),
        settings: str | None = None,
        python: str = sys.executable,
        ready_status: int | Iterable[int] | None = None,
        wrapper: Sequence[str] = (),
        multiproc: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(env=env, **kwargs)
        #: False: no ``PROMETHEUS_MULTIPROC_DIR`` is set (nor inherited); the config sets one up
        #: or the application does without.
        self.multiproc = multiproc
        self.wsgi_module = wsgi_module
        self.wrapper = list(wrapper)
        self.workers = workers
        self.config = config
        self.extra_args = list(extra_args)
        self.settings = settings
        self.python = python
        # Any status counts as "serving" by default: an app without /healthz still answers 404.
        self.ready_status = ready_status
        default_dir = self.workdir / "prometheus-multiproc"
        self.multiproc_dir = Path(self.extra_env.get("PROMETHEUS_MULTIPROC_DIR", default_dir))

    def command(self) -> list[str]:
        cmd = [*self.wrapper, self.python, "-m", "gunicorn"]
        if self.config:
            cmd += ["-c", self.config]
        if _gunicorn_has_control_socket():
            # One fixed socket path per user by default: instances side by side would collide.
            cmd.append("--no-control-socket")
        cmd += [
            "--bind",
            self.address,
            "--workers",
            str(self.workers),
            "--graceful-timeout",
            "5",
            "--pid",
            str(self.workdir / "gunicorn.pid"),
        ]
        if self.wsgi_module is None:
            return [*cmd, *self.extra_args]
        app = self.wsgi_module if ":" in self.wsgi_module else f"{self.wsgi_module}:application"
        return [*cmd, *self.extra_args, app]

    def environment(self) -> dict[str, str]:
        env = dict(os.environ) if self.inherit_env else {}
        env.pop("DJANGO_SETTINGS_MODULE", None)
        env.update(self.extra_env)
        if self.settings:
            env["DJANGO_SETTINGS_MODULE"] = self.settings
        if self.multiproc:
            self.multiproc_dir.mkdir(parents=True, exist_ok=True)
            env["PROMETHEUS_MULTIPROC_DIR"] = str(self.multiproc_dir)
        else:
            env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        env.setdefault("PYTHONUNBUFFERED", "1")
        return env

    def wait_ready(self) -> None:
        wait_for_http(
            self.url + self.ready_path,
            self.ready_timeout,
            expect_status=self.ready_status,
            process=self.process,
        )
        self.wait_for_workers(self.workers, timeout=self.ready_timeout)

    def kill_worker(
        self, pid: int, sig: int = signal.SIGKILL, *, wait: bool = True, timeout: float = 30.0
    ) -> None:
        """Kill one worker; with ``wait``, return once gunicorn has replaced it."""
        if pid not in self.worker_pids():
            raise ValueError(f"{pid} is not a worker of gunicorn {self.pid}")
        os.kill(pid, sig)
        if wait:
            self.wait_for_workers(self.workers, timeout, exclude=[pid])

    def reload(self) -> None:
        """Graceful reload (SIGHUP): every worker is replaced."""
        os.kill(self.pid, signal.SIGHUP)


def _gunicorn_has_control_socket() -> bool:
    """gunicorn 25.1 added a control socket (and ``--no-control-socket``)."""
    from importlib import metadata

    try:
        version = metadata.version("gunicorn")
    except metadata.PackageNotFoundError:
        return False
    parts = tuple(int(p) for p in version.split(".")[:2] if p.isdigit())
    return parts >= (25, 1)


def static_scrape_config(
    job: str,
    targets: Iterable[str],
    *,
    labels: Mapping[str, str] | None = None,
    metrics_path: str = "/metrics",
    scrape_interval: str | None = None,
    bearer_token: str | None = None,
) -> dict[str, Any]:
    """One ``scrape_configs`` entry. Targets may be ``host:port`` or URLs."""
    addresses = [urllib.parse.urlsplit(t).netloc if "://" in t else t for t in targets]
    config: dict[str, Any] = {
        "job_name": job,
        "metrics_path": metrics_path,
        "static_configs": [{"targets": addresses, "labels": dict(labels or {})}],
    }
    if scrape_interval:
        config["scrape_interval"] = scrape_interval
    if bearer_token:
        config["authorization"] = {"type": "Bearer", "credentials": bearer_token}
    return config


class Prometheus(HttpServerProcess):
    """A real Prometheus with a generated ``prometheus.yml`` and exemplar storage enabled."""

    name = "prometheus"
    ready_path = "/-/ready"

    def __init__(
        self,
        scrape_configs: Sequence[Mapping[str, Any]],
        *,
        rule_files: Iterable[str | Path] = (),
        alertmanager_url: str | None = None,
        scrape_interval: str = "1s",
        evaluation_interval: str = "1s",
        exemplars: bool = True,
        external_labels: Mapping[str, str] | None = None,
        extra_args: Sequence[str] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.binary = find_binary("prometheus")
        self.scrape_configs = [dict(c) for c in scrape_configs]
        self.rule_files = [str(Path(p).resolve()) for p in rule_files]
        self.alertmanager_url = alertmanager_url
        self.scrape_interval = scrape_interval
        self.evaluation_interval = evaluation_interval
        self.exemplars = exemplars
        self.external_labels = dict(external_labels or {})
        self.extra_args = list(extra_args)
        self.config_path = self.workdir / "prometheus.yml"

    def config(self) -> dict[str, Any]:
        config: dict[str, Any] = {
            "global": {
                "scrape_interval": self.scrape_interval,
                "scrape_timeout": self.scrape_interval if _seconds(self.scrape_interval) < 10 else "10s",
                "evaluation_interval": self.evaluation_interval,
            },
            "scrape_configs": self.scrape_configs,
        }
        if self.external_labels:
            config["global"]["external_labels"] = self.external_labels
        if self.rule_files:
            config["rule_files"] = self.rule_files
        if self.alertmanager_url:
            target = urllib.parse.urlsplit(self.alertmanager_url).netloc
            config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [target]}]}]}
        return config

    def write_config(self) -> Path:
        self.config_path.write_text(yaml.safe_dump(self.config(), sort_keys=False))
        return self.config_path

    def command(self) -> list[str]:
        self.write_config()
        cmd = [
            self.binary,
            f"--config.file={self.config_path}",
            f"--storage.tsdb.path={self.workdir / 'data'}",
            f"--web.listen-address={self.address}",
            "--web.enable-lifecycle",
            "--log.level=warn",
        ]
        if self.exemplars:
            cmd.append("--enable-feature=exemplar-storage")
        return [*cmd, *self.extra_args]

    # -- HTTP API ------------------------------------------------------------------------------
    def api(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """GET ``/api/v1/<path>`` and return its ``data``."""
        payload = self.get_json(f"/api/v1/{path}", params)
        if payload.get("status") != "success":
            raise ServerFailedError(f"Prometheus {path} failed: {payload}")
        return payload["data"]

    def query(self, expr: str, time_: float | None = None) -> list[dict[str, Any]]:
        """Instant query; the ``result`` list (vectors: ``{"metric": ..., "value": [t, "v"]}``)."""
        params: dict[str, Any] = {"query": expr}
        if time_ is not None:
            params["time"] = time_
        return list(self.api("query", params)["result"])

    def query_value(self, expr: str) -> float | None:
        """The single value of an instant query, or None when the result is empty."""
        result = self.query(expr)
        if not result:
            return None
        if len(result) > 1:
            raise ValueError(f"{expr!r} returned {len(result)} series, expected one")
        return float(result[0]["value"][1])

    def query_range(self, expr: str, start: float, end: float, step: float | str = 1) -> list[dict[str, Any]]:
        params = {"query": expr, "start": start, "end": end, "step": step}
        return list(self.api("query_range", params)["result"])

    def query_exemplars(
        self, expr: str, start: float | None = None, end: float | None = None
    ) -> list[dict[str, Any]]:
        now = time.time()
        params = {"query": expr, "start": start if start is not None else now - 3600, "end": end or now}
        return list(self.api("query_exemplars", params))

    def targets(self, state: str = "active") -> list[dict[str, Any]]:
        data = self.api("targets", {"state": state})
        return list(data["activeTargets"] if state == "active" else data["droppedTargets"])

    def rules(self) -> list[dict[str, Any]]:
        return list(self.api("rules")["groups"])

    def alerts(self) -> list[dict[str, Any]]:
        return list(self.api("alerts")["alerts"])

    def wait_for_targets_up(self, n: int, timeout: float = 60.0) -> list[dict[str, Any]]:
        """Wait until at least ``n`` targets are up and none is down; return the active targets."""
        deadline = time.monotonic() + timeout
        targets: list[dict[str, Any]] = []
        while True:
            self._check_running()
            targets = self.targets()
            healths = [t.get("health") for t in targets]
            if healths.count("up") >= n and "down" not in healths:
                return targets
            if time.monotonic() > deadline:
                summary = [(t["scrapeUrl"], t.get("health"), t.get("lastError")) for t in targets]
                raise TimeoutError(f"wanted {n} targets up within {timeout:.0f}s, have {summary}")
            time.sleep(0.25)

    def wait_for_query(
        self,
        expr: str,
        predicate: Callable[[list[dict[str, Any]]], bool] = bool,
        timeout: float = 60.0,
    ) -> list[dict[str, Any]]:
        """Poll an instant query until ``predicate(result)`` holds; return that result."""
        deadline = time.monotonic() + timeout
        while True:
            self._check_running()
            result = self.query(expr)
            if predicate(result):
                return result
            if time.monotonic() > deadline:
                raise TimeoutError(f"{expr!r} did not satisfy the condition within {timeout:.0f}s: {result}")
            time.sleep(0.25)

    def reload(self) -> None:
        """Rewrite the config file and ask Prometheus to reload it."""
        self.write_config()
        reply = http_request(self.url + "/-/reload", method="POST")
        if reply.status != 200:
            raise ServerFailedError(f"Prometheus reload failed: {reply.status} {reply.text}")


class Alertmanager(HttpServerProcess):
    """A real Alertmanager (binary ``prometheus-alertmanager``) without cluster gossip."""

    name = "alertmanager"
    ready_path = "/-/ready"

    def __init__(self, config: Mapping[str, Any], *, extra_args: Sequence[str] = (), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.binary = find_binary("prometheus-alertmanager")
        self.alertmanager_config = dict(config)
        self.extra_args = list(extra_args)
        self.config_path = self.workdir / "alertmanager.yml"

    def command(self) -> list[str]:
        self.config_path.write_text(yaml.safe_dump(self.alertmanager_config, sort_keys=False))
        return [
            self.binary,
            f"--config.file={self.config_path}",
            f"--storage.path={self.workdir / 'data'}",
            f"--web.listen-address={self.address}",
            "--cluster.listen-address=",  # no gossip port: several instances may run side by side
            "--log.level=warn",
            *self.extra_args,
        ]

    def alerts(self, **filters: str) -> list[dict[str, Any]]:
        """Alerts Alertmanager holds (API v2); ``filters`` are label matchers, e.g. alertname="X"."""
        params = [("filter", f'{k}="{v}"') for k, v in filters.items()]
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        reply = self.get("/api/v2/alerts" + query)
        if reply.status != 200:
            raise ServerFailedError(f"Alertmanager alerts -> {reply.status}: {reply.text}")
        return list(reply.json())

    def post_alerts(self, alerts: Sequence[Mapping[str, Any]]) -> None:
        """Push alerts directly (as Prometheus would)."""
        body = json.dumps(list(alerts)).encode()
        reply = http_request(
            self.url + "/api/v2/alerts",
            method="POST",
            data=body,
            headers={"Content-Type": "application/json"},
        )
        if reply.status != 200:
            raise ServerFailedError(f"Alertmanager rejected alerts: {reply.status} {reply.text}")


def minimal_alertmanager_config(
    webhook_url: str, *, group_wait: str = "1s", group_interval: str = "1s", repeat_interval: str = "1h"
) -> dict[str, Any]:
    """One route to one webhook receiver, with short timings suited to demos and tests."""
    return {
        "route": {
            "receiver": "webhook",
            "group_by": ["alertname", "job"],
            "group_wait": group_wait,
            "group_interval": group_interval,
            "repeat_interval": repeat_interval,
        },
        "receivers": [{"name": "webhook", "webhook_configs": [{"url": webhook_url, "send_resolved": True}]}],
    }


class _InProcessServer:
    """An HTTP server on a daemon thread of this process: ``start()``/``stop()``, or ``with``."""

    thread_name = "in-process-server"
    _server: ThreadingHTTPServer
    _thread: threading.Thread | None

    def start(self) -> Self:
        self._thread = threading.Thread(target=self._server.serve_forever, name=self.thread_name, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class WebhookReceiver(_InProcessServer):
    """A tiny threaded HTTP server that records Alertmanager webhook payloads.

    ``on_payload`` is called (in the server thread) with each decoded payload; the demo uses it to
    print alerts as they arrive. Any path is accepted, so one receiver can serve several
    Alertmanager receivers (``/critical``, ``/warning``...); the path is kept as ``_path``.
    """

    thread_name = "webhook-receiver"

    def __init__(self, *, port: int = 0, on_payload: Callable[[dict[str, Any]], None] | None = None) -> None:
        self._payloads: list[dict[str, Any]] = []
        self._lock = threading.Condition()
        self._on_payload = on_payload
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    payload = json.loads(raw or b"{}")
                except ValueError:
                    payload = {"_invalid": raw.decode("utf-8", errors="replace")}
                if not isinstance(payload, dict):
                    payload = {"_payload": payload}
                payload["_path"] = self.path
                receiver._record(payload)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self) -> None:
                body = json.dumps(receiver.payloads()).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: Any) -> None:
                return  # keep test and demo output quiet

        self._server = ThreadingHTTPServer((LOOPBACK, port), Handler)
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}/"

    def _record(self, payload: dict[str, Any]) -> None:
        with self._lock:
            self._payloads.append(payload)
            self._lock.notify_all()
        if self._on_payload is not None:
            try:
                self._on_payload(payload)
            except Exception as exc:  # noqa: BLE001 - a printing callback must not break the receiver
                print(f"webhook callback failed: {exc!r}", file=sys.stderr)

    def payloads(self) -> list[dict[str, Any]]:
        """Every payload received so far, oldest first."""
        with self._lock:
            return list(self._payloads)

    def alerts(self) -> list[dict[str, Any]]:
        """Every alert of every payload, oldest first (each has status, labels, annotations...)."""
        return [alert for payload in self.payloads() for alert in payload.get("alerts", [])]

    def clear(self) -> None:
        with self._lock:
            self._payloads.clear()

    def wait_for(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 60.0) -> dict[str, Any]:
        """Block until an alert satisfying ``predicate`` has arrived; return it."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                for payload in self._payloads:
                    for alert in payload.get("alerts", []):
                        if predicate(alert):
                            return dict(alert)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    seen = [
                        (a.get("labels", {}).get("alertname"), a.get("status")) for a in self._alerts_locked()
                    ]
                    raise TimeoutError(f"no matching alert within {timeout:.0f}s; received {seen}")
                self._lock.wait(remaining)

    def _alerts_locked(self) -> list[dict[str, Any]]:
        return [alert for payload in self._payloads for alert in payload.get("alerts", [])]


class TraceSink(_InProcessServer):
    """Accepts OTLP/HTTP exports (``POST /v1/traces``) and only counts them.

    Gives the instrumentation somewhere to send spans when no tracing backend runs (the demo, the
    tests): spans are then sampled, so latency histograms carry trace-id exemplars that a
    Prometheus with exemplar storage keeps. An empty 200 response is a valid (empty)
    ``ExportTraceServiceResponse``.
    """

    thread_name = "trace-sink"

    def __init__(self, *, port: int = 0) -> None:
        self.requests = 0
        self.bytes = 0
        self._lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with sink._lock:
                    sink.requests += 1
                    sink.bytes += len(body)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                return

        self._server = ThreadingHTTPServer((LOOPBACK, port), Handler)
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def endpoint(self) -> str:
        """The value for ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``."""
        return f"http://{LOOPBACK}:{self._server.server_address[1]}/v1/traces"


def alert_named(name: str, status: str = "firing", **labels: str) -> Callable[[dict[str, Any]], bool]:
    """A :meth:`WebhookReceiver.wait_for` predicate: alertname, status and extra label values."""

    def predicate(alert: dict[str, Any]) -> bool:
        alert_labels = alert.get("labels", {})
        return (
            alert_labels.get("alertname") == name
            and alert.get("status") == status
            and all(alert_labels.get(k) == v for k, v in labels.items())
        )

    return predicate


def _seconds(duration: str) -> float:
    """Seconds in a short Prometheus duration such as ``"1s"``, ``"500ms"``, ``"2m"``."""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    for suffix in ("ms", "s", "m", "h"):
        if duration.endswith(suffix):
            return float(duration[: -len(suffix)]) * units[suffix]
    return float(duration)
