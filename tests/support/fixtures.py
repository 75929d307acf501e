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
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sample_app.fleet import Fleet, FleetConfig
from tests.support.procs import require_binary

FleetFactory = Callable[..., Fleet]

__all__ = ["FleetFactory", "fleet_factory", "sample_fleet", "sample_instances", "start_fleet"]


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
