"""A small fleet of the sample shop, watched by a real Prometheus and Alertmanager.

``fleetobs demo`` and the integration tests both use :class:`Fleet`::

    state_dir/                      (``.demo/`` for the demo, a tmp dir in tests)
      shop.sqlite3                  the shared database (unless a DATABASE_URL is given)
      faults.json, faults-token     the fault-injection switch and the token of its endpoint
      instances/shop-1/             gunicorn log and PROMETHEUS_MULTIPROC_DIR of each instance
      prometheus/                   generated prometheus.yml, TSDB, log
      rules/                        rule files written by the ``alerting`` package, if installed
      alertmanager/                 generated alertmanager.yml, its data and log
      pids.json                     the running fleet's owner and process groups: a second fleet in
                                    the same dir is refused, a crashed one is cleaned up next time

Start order: migrate and seed, an OTLP sink for spans (unless a tracing endpoint is configured;
sampled spans are what give latency buckets their exemplars), the app instances, the webhook
receiver, Alertmanager, Prometheus (scraping every instance with ``job`` = service name and
``instance``/``environment`` labels).
Stop order is the reverse, each server's whole process group at a time; nothing is left running.

Alert rules and the Alertmanager configuration come from the ``alerting`` package when it is
importable (``alerting.api.write_rules`` and ``alerting.api.alertmanager_config``); otherwise the
fleet runs without rules and with one route to the webhook receiver.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Self

from sample_app import processes
from sample_app.processes import Alertmanager, Gunicorn, Prometheus, TraceSink, WebhookReceiver

PACKAGE_DIR = Path(__file__).resolve().parent
GUNICORN_CONFIG = PACKAGE_DIR / "gunicorn.conf.py"
WSGI_MODULE = "sample_app.wsgi"
SETTINGS_MODULE = "sample_app.settings"

#: Ports the demo prefers (so URLs are memorable); any busy one is replaced by a free port.
DEMO_PORTS = {"app": 8001, "prometheus": 9090, "alertmanager": 9093, "webhook": 9095}

AlertmanagerConfigFactory = Callable[[str], dict[str, Any]]


@dataclass
class FleetConfig:
    """What to start. Defaults suit the demo; tests shorten intervals and turn parts off."""

    state_dir: Path
    instances: int = 2
    workers: int = 2
    service: str = "shop"
    environment: str = "demo"
    #: PostgreSQL (or other) URL; None means the SQLite file in ``state_dir``.
    database_url: str | None = None
    #: Redis for the cache and the Celery broker; None means local memory and eager tasks.
    redis_url: str | None = None
    #: Extra environment for every instance.
    env: Mapping[str, str] = field(default_factory=dict)
    prometheus: bool = True
    alertmanager: bool = True
    scrape_interval: str = "5s"
    evaluation_interval: str = "5s"
    #: "auto": rules from the ``alerting`` package if importable; "none"; or explicit rule files.
    rules: Literal["auto", "none"] | Sequence[Path] = "auto"
    slo_file: Path | None = None
    #: Builds the Alertmanager config from the webhook URL; None: ``alerting`` package or minimal.
    alertmanager_config: AlertmanagerConfigFactory | None = None
    #: Prefer the well-known demo ports (8001.., 9090, 9093, 9095) when they are free.
    preferred_ports: bool = False
    seed: bool = True
    #: Start a Celery worker (needs ``redis_url``; without a broker tasks run eagerly anyway).
    celery_worker: bool = False
    #: Send spans to an in-process OTLP sink (unless an OTLP endpoint is configured already), so
    #: requests are sampled and latency buckets carry exemplars even with no tracing backend.
    trace_sink: bool = True
    #: Called with each Alertmanager webhook payload (the demo prints them).
    on_alert: Callable[[dict[str, Any]], None] | None = None

    def __post_init__(self) -> None:
        self.state_dir = Path(self.state_dir).resolve()
        if self.celery_worker and not self.redis_url:
            raise ValueError("a Celery worker needs redis_url (the broker)")
        if self.instances < 1 or self.workers < 1:
            raise ValueError(f"instances and workers must be at least 1, got {self.instances}/{self.workers}")


class Fleet:
    """Start, inspect and stop the sample fleet described by a :class:`FleetConfig`."""

    def __init__(self, config: FleetConfig, *, log: Callable[[str], None] | None = None) -> None:
        self.config = config
        self.log = log or (lambda _message: None)
        self.state_dir = config.state_dir
        self.instances: list[Gunicorn] = []
        self.prometheus: Prometheus | None = None
        self.alertmanager: Alertmanager | None = None
        self.webhook: WebhookReceiver | None = None
        self.celery: CeleryWorker | None = None
        self.trace_sink: TraceSink | None = None
        self.rule_files: list[Path] = []
        self.notes: list[str] = []
        self._faults_token: str | None = None
        self._recorded = False  # whether pids.json is ours to remove

    # -- paths and environment -----------------------------------------------------------------
    @property
    def faults_file(self) -> Path:
        return self.state_dir / "faults.json"

    @property
    def faults_token(self) -> str:
        """Bearer token of the ``/faults/`` endpoint, kept in the state dir across runs."""
        if self._faults_token is None:
            path = self.state_dir / "faults-token"
            if path.exists():
                self._faults_token = path.read_text().strip()
            else:
                self._faults_token = secrets.token_urlsafe(24)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(self._faults_token + "\n")
                path.chmod(0o600)
        return self._faults_token

    @property
    def sqlite_path(self) -> Path:
        return self.state_dir / "shop.sqlite3"

    def instance_name(self, index: int) -> str:
        return f"{self.config.service}-{index + 1}"

    def base_env(self) -> dict[str, str]:
        """Environment shared by every instance and by the management commands."""
        cfg = self.config
        env = {
            "DJANGO_SETTINGS_MODULE": SETTINGS_MODULE,
            # Explicitly empty so a DATABASE_URL/REDIS_URL in the caller's shell is not picked up.
            "DATABASE_URL": cfg.database_url or "",
            "REDIS_URL": cfg.redis_url or "",
            "CELERY_BROKER_URL": cfg.redis_url or "",
            "SHOP_SQLITE_PATH": str(self.sqlite_path),
            "SHOP_SERVICE_NAME": cfg.service,
            "FLEETOBS_ENVIRONMENT": cfg.environment,
            "SHOP_FAULTS_FILE": str(self.faults_file),
            "SHOP_FAULTS_TOKEN": self.faults_token,
            "SHOP_STATIC_ROOT": str(self.state_dir / "static"),
            "WEB_CONCURRENCY": str(cfg.workers),
            "PYTHONPATH": _pythonpath(),
        }
        if self.trace_sink is not None:
            env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] = self.trace_sink.endpoint
            env["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"] = "http/protobuf"
        env.update(cfg.env)
        return env

    def instance_env(self, index: int) -> dict[str, str]:
        env = self.base_env()
        name = self.instance_name(index)
        env["PROMETHEUS_MULTIPROC_DIR"] = str(self.state_dir / "instances" / name / "metrics")
        attributes = f"service.instance.id={name}"
        if extra := env.get("OTEL_RESOURCE_ATTRIBUTES") or os.environ.get("OTEL_RESOURCE_ATTRIBUTES"):
            attributes = f"{extra},{attributes}"
        env["OTEL_RESOURCE_ATTRIBUTES"] = attributes
        return env

    def scrape_configs(self) -> list[dict[str, Any]]:
        """One job (the service name); one static group per instance, with its own labels."""
        groups = [
            {
                "targets": [app.address],
                "labels": {"instance": self.instance_name(i), "environment": self.config.environment},
            }
            for i, app in enumerate(self.instances)
        ]
        return [{"job_name": self.config.service, "metrics_path": "/metrics", "static_configs": groups}]

    # -- lifecycle -----------------------------------------------------------------------------
    def prepare(self) -> None:
        """Create the state dir, clean up after a crashed run, migrate and seed the database."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        owner = running_owner(self.state_dir / "pids.json")
        if owner is not None and owner != os.getpid():
            raise processes.ServerFailedError(
                f"another fleet (pid {owner}) is running in {self.state_dir}; stop it first"
            )
        killed = kill_recorded_processes(self.state_dir / "pids.json")
        if killed:
            self.log(f"stopped {len(killed)} process group(s) left by a previous run: {killed}")
        self.manage("migrate", "--noinput", "-v", "0")
        if self.config.seed:
            output = self.manage("seed")
            self.log(next((line for line in output.splitlines() if line.startswith("seed:")), "seeded"))

    def manage(self, *args: str, timeout: float = 300.0) -> str:
        """Run a management command of the sample app with the fleet's environment."""
        env = {**os.environ, **self.base_env()}
        result = subprocess.run(  # noqa: S603 - our own interpreter and arguments
            [sys.executable, "-m", "sample_app", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            raise processes.ServerFailedError(
                f"`python -m sample_app {' '.join(args)}` failed ({result.returncode}):\n"
                f"{result.stdout}{result.stderr}"
            )
        return result.stdout

    def start(self) -> Self:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        cfg = self.config
        self.prepare()
        ports = _PortPicker(cfg.preferred_ports)
        if cfg.trace_sink and not _otlp_configured(cfg.env):
            self.trace_sink = TraceSink().start()
        for index in range(cfg.instances):
            name = self.instance_name(index)
            app = Gunicorn(
                WSGI_MODULE,
                workers=cfg.workers,
                env=self.instance_env(index),
                config=str(GUNICORN_CONFIG),
                settings=SETTINGS_MODULE,
                port=ports.pick(DEMO_PORTS["app"] + index),
                workdir=self.state_dir / "instances" / name,
            )
            self.log(f"starting {name} (gunicorn, {cfg.workers} workers) on {app.url}")
            self.instances.append(app)
            app.start()
            self._record_pids()
        if cfg.celery_worker:
            self.celery = CeleryWorker(env=self.base_env(), workdir=self.state_dir / "celery")
            self.log(f"starting a Celery worker (queue {cfg.service}-tasks)")
            self.celery.start()
            self._record_pids()
        if cfg.alertmanager:
            self.webhook = WebhookReceiver(port=ports.pick(DEMO_PORTS["webhook"]), on_payload=cfg.on_alert)
            self.webhook.start()
            am_config = self._alertmanager_config(self.webhook.url)
            self.alertmanager = Alertmanager(
                am_config,
                port=ports.pick(DEMO_PORTS["alertmanager"]),
                workdir=self.state_dir / "alertmanager",
            )
            self.log(f"starting Alertmanager on {self.alertmanager.url}")
            self.alertmanager.start()
            self._record_pids()
        if cfg.prometheus:
            self.rule_files = self._rule_files()
            self.prometheus = Prometheus(
                self.scrape_configs(),
                rule_files=self.rule_files,
                alertmanager_url=self.alertmanager.url if self.alertmanager else None,
                scrape_interval=cfg.scrape_interval,
                evaluation_interval=cfg.evaluation_interval,
                port=ports.pick(DEMO_PORTS["prometheus"]),
                workdir=self.state_dir / "prometheus",
            )
            self.log(f"starting Prometheus on {self.prometheus.url} ({len(self.rule_files)} rule files)")
            self.prometheus.start()
            self._record_pids()

    def stop(self) -> None:
        """Stop everything started, newest first; safe to call twice."""
        for server in (self.prometheus, self.alertmanager):
            if server is not None:
                server.stop()
        if self.webhook is not None:
            self.webhook.stop()
            self.webhook = None
        if self.celery is not None:
            self.celery.stop()
        for app in reversed(self.instances):
            app.stop()
        if self.trace_sink is not None:
            self.trace_sink.stop()
            self.trace_sink = None
        if self._recorded:
            (self.state_dir / "pids.json").unlink(missing_ok=True)
            self._recorded = False

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def process_groups(self) -> list[int]:
        """Process group ids of every server started (each group's id is its leader's pid)."""
        servers = [*self.instances, self.celery, self.alertmanager, self.prometheus]
        return [s.pid for s in servers if s is not None and s.process is not None]

    def _record_pids(self) -> None:
        record = {
            "owner": {"pid": os.getpid(), "cmdline": _cmdline(os.getpid())},
            "groups": [{"pgid": pgid, "cmdline": _cmdline(pgid)} for pgid in self.process_groups()],
        }
        path = self.state_dir / "pids.json"
        path.write_text(json.dumps(record, indent=2) + "\n")
        self._recorded = True

    # -- operations used by tests and the demo -------------------------------------------------
    def urls(self) -> dict[str, str]:
        urls = {self.instance_name(i): app.url for i, app in enumerate(self.instances)}
        if self.prometheus:
            urls["prometheus"] = self.prometheus.url
        if self.alertmanager:
            urls["alertmanager"] = self.alertmanager.url
        if self.webhook:
            urls["webhook receiver"] = self.webhook.url
        if self.trace_sink:
            urls["OTLP span sink"] = self.trace_sink.endpoint
        return urls

    def wait_until_scraped(self, timeout: float = 60.0) -> None:
        """Block until Prometheus reports every instance's target up."""
        if self.prometheus is None:
            raise RuntimeError("this fleet runs without Prometheus")
        self.prometheus.wait_for_targets_up(len(self.instances), timeout)

    def set_faults(self, **settings: float | None) -> dict[str, Any]:
        """Replace the fault switch, e.g. ``set_faults(error_rate=0.5)``; every worker sees it."""
        from sample_app.shop import faults

        state = faults.Faults(**settings)  # type: ignore[arg-type]
        faults.write(state, self.faults_file)
        return state.to_dict()

    def clear_faults(self) -> None:
        from sample_app.shop import faults

        faults.clear(self.faults_file)

    def kill_instance(self, index: int) -> None:
        """Stop one instance abruptly (its whole process group gets SIGKILL)."""
        app = self.instances[index]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(app.pid, signal.SIGKILL)
        app.stop()

    def restart_instance(self, index: int) -> Gunicorn:
        """Start a stopped instance again on the same port."""
        old = self.instances[index]
        old.stop()
        app = Gunicorn(
            WSGI_MODULE,
            workers=self.config.workers,
            env=self.instance_env(index),
            config=str(GUNICORN_CONFIG),
            settings=SETTINGS_MODULE,
            port=old.port,
            workdir=old.workdir,
        )
        self.instances[index] = app
        app.start()
        self._record_pids()
        return app

    # -- alerting package integration ----------------------------------------------------------
    def _alerting_api(self, name: str) -> Callable[..., Any] | None:
        try:
            api = importlib.import_module("alerting.api")
        except ImportError:
            return None
        func = getattr(api, name, None)
        return func if callable(func) else None

    def _rule_files(self) -> list[Path]:
        rules = self.config.rules
        if rules == "none":
            return []
        if rules != "auto":
            return [Path(p) for p in rules]
        write_rules = self._alerting_api("write_rules")
        if write_rules is None:
            self.notes.append("alerting.api is not available: Prometheus runs without alert rules")
            return []
        out_dir = self.state_dir / "rules"
        out_dir.mkdir(parents=True, exist_ok=True)
        for stale in out_dir.glob("*"):
            if stale.is_file():
                stale.unlink()
        return [Path(p) for p in write_rules(out_dir, self.config.slo_file)]

    def _alertmanager_config(self, webhook_url: str) -> dict[str, Any]:
        if self.config.alertmanager_config is not None:
            return self.config.alertmanager_config(webhook_url)
        if self.config.rules != "none":
            factory = self._alerting_api("alertmanager_config")
            if factory is not None:
                return dict(factory(webhook_url))
            self.notes.append("alerting.api is not available: Alertmanager routes everything to the webhook")
        return processes.minimal_alertmanager_config(webhook_url)


class CeleryWorker(processes.ManagedProcess):
    """``celery -A sample_app.celery worker``: one process, the service's queue, no gossip."""

    name = "celery"

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "celery", "-A", "sample_app.celery", "worker",
            "--pool", "solo", "--loglevel", "INFO", "--hostname", f"shop-{secrets.token_hex(4)}@%h",
            "--without-gossip", "--without-mingle", "--without-heartbeat",
        ]  # fmt: skip

    def wait_ready(self) -> None:
        # The broker keeps queued tasks until the worker consumes them, so "running" is enough.
        time.sleep(1.0)
        self._check_running()


class _PortPicker:
    """Hands out the preferred port when it is free (and not already handed out), else a free one."""

    def __init__(self, prefer: bool) -> None:
        self.prefer = prefer
        self.taken: set[int] = set()

    def pick(self, preferred: int) -> int:
        port = preferred if self.prefer and preferred not in self.taken and _port_free(preferred) else 0
        while not port or port in self.taken:
            port = processes.free_port()
        self.taken.add(port)
        return port


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((processes.LOOPBACK, port))
        except OSError:
            return False
    return True


def _otlp_configured(extra_env: Mapping[str, str]) -> bool:
    names = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
    return any(extra_env.get(n) or os.environ.get(n) for n in names)


def _pythonpath() -> str:
    """Make ``sample_app`` and ``instrumentation`` importable in children even from a source tree."""
    root = str(PACKAGE_DIR.parent)
    existing = os.environ.get("PYTHONPATH", "")
    return root if not existing else f"{root}{os.pathsep}{existing}"


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def _read_record(path: Path) -> dict[str, Any]:
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def _still_running(entry: Mapping[str, Any], key: str) -> int | None:
    """The recorded pid if that process still runs the recorded command line (pids get reused)."""
    pid, cmdline = int(entry.get(key, 0)), entry.get("cmdline", "")
    if pid <= 1 or not cmdline or _cmdline(pid) != cmdline:
        return None
    return pid


def running_owner(path: Path) -> int | None:
    """Pid of the live process that started the fleet recorded in ``path``, if any."""
    return _still_running(_read_record(path).get("owner") or {}, "pid")


def kill_recorded_processes(path: Path, timeout: float = 10.0) -> list[int]:
    """Kill the process groups listed in ``path`` that still run the recorded command line."""
    killed: list[int] = []
    for entry in _read_record(path).get("groups", []):
        pgid = _still_running(entry, "pgid")
        if pgid is None:
            continue  # gone, or the pid was reused by something else
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGTERM)
        killed.append(pgid)
    deadline = time.monotonic() + timeout
    for pgid in killed:
        while processes.group_pids(pgid) and time.monotonic() < deadline:
            time.sleep(0.1)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
    path.unlink(missing_ok=True)
    return killed
