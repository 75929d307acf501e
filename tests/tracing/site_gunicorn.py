"""The tracing test site (or the sample shop) under a real gunicorn, on the suite's one launcher.

``site_env(tmp_path, endpoint)`` is the whole environment of such a server: this process's minus
every ``OTEL_``, ``FLEETOBS_`` and ``PROMETHEUS_`` variable, plus the site's settings, its SQLite
database and metrics directory under ``tmp_path`` and the OTLP endpoint the spans go to.
``site_gunicorn(env)`` is a :class:`tests.support.procs.Gunicorn` for it (nothing inherited
beyond ``env``, ready when ``/healthz`` answers 200 and every worker has booted, its log in the
directory of the database); ``server.terminate()`` sends the master SIGTERM and returns the
seconds it took to exit, which is when each worker flushes its spans.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from tests.support.procs import Gunicorn

__all__ = ["ROOT", "counter", "site_env", "site_gunicorn"]

ROOT = Path(__file__).resolve().parents[2]


def site_env(tmp_path: Path, endpoint: str, **extra: str) -> dict[str, str]:
    metrics_dir = tmp_path / "prometheus"
    metrics_dir.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "FLEETOBS_", "PROMETHEUS_"))}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "tests.tracing.site.settings",
            "PYTHONPATH": str(ROOT),
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": endpoint,
            "TRACING_SITE_DB": str(tmp_path / "site.sqlite3"),
            "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
            "FLEETOBS_GUNICORN_JSON_LOGS": "0",
            **extra,
        }
    )
    return env


def site_gunicorn(
    env: dict[str, str],
    workers: int = 3,
    preload: bool = False,
    config: str | None = None,
    wrapper: tuple[str, ...] = (),
) -> Gunicorn:
    """The test site (or, with ``config``, the app that config names) with ``workers`` workers."""
    database = Path(env.get("TRACING_SITE_DB") or env["SHOP_SQLITE_PATH"])
    return Gunicorn(
        None if config else "tests.tracing.site.wsgi",
        workers=workers,
        env=env,
        inherit_env=False,
        config=config or "python:instrumentation.gunicorn",
        wrapper=wrapper,
        extra_args=["--graceful-timeout", "30", "--timeout", "60", *(["--preload"] if preload else [])],
        ready_status=200,
        cwd=ROOT,
        workdir=database.parent,
    )


def counter(server: Gunicorn, name: str, **labels: str) -> float:
    """The sum of the samples of ``name`` with these labels in the server's ``/metrics``."""
    total = 0.0
    for line in server.get("/metrics").text.splitlines():
        if not line.startswith(name + "{"):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0]))
        if all(found.get(k) == v for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total
