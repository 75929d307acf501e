"""Pytest fixtures around the sample fleet, for any test package to import into its conftest.

    # tests/<area>/conftest.py (each fixture is self-contained: import just the ones you use)
    from tests.support.fixtures import fleet_factory, sample_fleet, sample_instances  # noqa: F401

``sample_instances``   two gunicorn instances (2 workers each) of the sample shop on a migrated,
                       seeded SQLite database; no Prometheus. Module scoped.
``sample_fleet``       the same plus a real Prometheus scraping both every second, with every
                       target already up when the test starts. Module scoped.
``fleet_factory``      builds a custom :class:`sample_app.fleet.Fleet` (rules, Alertmanager,
                       more instances...) and stops it when the test module ends.

Fault injection works on both (``fleet.set_faults(error_rate=0.5)``, ``fleet.clear_faults()``);
tests that change faults must clear them, since the fleet is shared by the module. Missing
Prometheus/Alertmanager binaries skip the test, or fail it under ``CI=true``.

:class:`TaskWorker` is a real prefork Celery worker of the sample shop that serves its task
metrics on its own port (``FLEETOBS_METRICS_PORT``), for a fleet whose instances have a broker
(``fleet_factory(env={"CELERY_BROKER_URL": ...})``); the caller adds it as a scrape target.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sample_app import processes
from sample_app.fleet import Fleet, FleetConfig
from tests.support.procs import require_binary

FleetFactory = Callable[..., Fleet]

__all__ = [
    "FleetFactory",
    "TaskWorker",
    "fleet_factory",
    "sample_fleet",
    "sample_instances",
    "start_fleet",
    "start_task_worker",
]


def start_fleet(state_dir: Path, **options: Any) -> Fleet:
    """Start a test fleet in ``state_dir``: environment "test", 1 s scrapes, no rules by default.

    ``options`` are :class:`FleetConfig` fields. The caller stops it (``fleet.stop()``).
    """
    defaults: dict[str, Any] = {
        "environment": "test",
        "scrape_interval": "1s",
        "evaluation_interval": "1s",
        "rules": "none",
        "alertmanager": False,
    }
    config = FleetConfig(state_dir=state_dir, **{**defaults, **options})
    if config.prometheus:
        require_binary("prometheus")
    if config.alertmanager:
        require_binary("prometheus-alertmanager")
    fleet = Fleet(config)
    fleet.start()
    try:
        if config.prometheus:
            fleet.wait_until_scraped(timeout=60)
    except BaseException:
        fleet.stop()
        raise
    return fleet


@pytest.fixture(scope="module")
def fleet_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FleetFactory]:
    """``fleet_factory(**FleetConfig options)`` starts a fleet; all are stopped at module end."""
    started: list[Fleet] = []

    def factory(**options: Any) -> Fleet:
        fleet = start_fleet(tmp_path_factory.mktemp("fleet"), **options)
        started.append(fleet)
        return fleet

    yield factory
    for fleet in reversed(started):
        fleet.stop()


@pytest.fixture(scope="module")
def sample_instances(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    """Two instances of the sample shop, 2 workers each, without Prometheus."""
    fleet = start_fleet(tmp_path_factory.mktemp("sample-instances"), prometheus=False)
    yield fleet
    fleet.stop()


@pytest.fixture(scope="module")
def sample_fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    """Two instances of the sample shop scraped every second by a real Prometheus (job "shop")."""
    fleet = start_fleet(tmp_path_factory.mktemp("sample-fleet"))
    yield fleet
    fleet.stop()


class TaskWorker(processes.HttpServerProcess):
    """``celery -A sample_app.celery worker --pool=prefork``, its metrics on ``127.0.0.1:<port>``.

    Ready once ``/metrics`` answers (the main process serves it from ``worker_init``).
    """

    name = "celery-worker"
    ready_path = "/metrics"

    def __init__(self, *, hostname: str, concurrency: int = 2, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.hostname = hostname
        self.concurrency = concurrency
        (self.workdir / "metrics").mkdir(exist_ok=True)
        self.extra_env |= {
            "FLEETOBS_METRICS_PORT": str(self.port),
            "FLEETOBS_METRICS_ADDRESS": processes.LOOPBACK,
            "PROMETHEUS_MULTIPROC_DIR": str(self.workdir / "metrics"),
        }

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "celery", "-A", "sample_app.celery", "worker",
            "--pool=prefork", f"--concurrency={self.concurrency}", "--loglevel=INFO",
            "--without-gossip", "--without-mingle", "-n", f"{self.hostname}@%h",
        ]  # fmt: skip


def start_task_worker(fleet: Fleet, name: str, concurrency: int = 2) -> TaskWorker:
    """Start a :class:`TaskWorker` with the fleet's environment (database, broker, fault switch).

    ``name`` becomes the worker's host name and its ``service.instance.id``; the caller stops it.
    """
    env = fleet.base_env()
    env["OTEL_RESOURCE_ATTRIBUTES"] = f"service.instance.id={name}"
    worker = TaskWorker(
        hostname=name, concurrency=concurrency, env=env, workdir=fleet.state_dir / "workers" / name
    )
    worker.start()
    return worker
