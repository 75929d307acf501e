"""Real servers for integration tests, on 127.0.0.1 free ports.

This is the test-facing face of :mod:`sample_app.processes` (the one implementation the demo also
uses). What it adds is the policy for missing binaries: when ``prometheus`` or
``prometheus-alertmanager`` is not on ``PATH`` the test is skipped with the install command, or
fails when ``CI=true`` (CI must never pass by skipping)::

    from tests.support.procs import Gunicorn, Prometheus, static_scrape_config

    with Gunicorn("sample_app.wsgi", workers=4, env={"SHOP_SQLITE_PATH": str(db)}) as app:
        scrape = static_scrape_config("shop", [app.address], labels={"environment": "test"})
        with Prometheus([scrape]) as prom:
            prom.wait_for_targets_up(1)
            prom.query('sum(http_server_request_duration_seconds_count{job="shop"})')

Every class is a context manager; ``stop()`` SIGTERMs then SIGKILLs the whole process group.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from sample_app import processes
from sample_app.processes import (
    Gunicorn,
    HttpReply,
    ManagedProcess,
    MissingBinaryError,
    ServerFailedError,
    TraceSink,
    WebhookReceiver,
    alert_named,
    child_pids,
    free_port,
    group_pids,
    http_request,
    minimal_alertmanager_config,
    pid_alive,
    static_scrape_config,
    wait_for_http,
)

__all__ = [
    "Alertmanager",
    "Gunicorn",
    "HttpReply",
    "ManagedProcess",
    "MissingBinaryError",
    "Prometheus",
    "ServerFailedError",
    "TraceSink",
    "WebhookSink",
    "alert_named",
    "child_pids",
    "free_port",
    "group_pids",
    "http_request",
    "in_ci",
    "minimal_alertmanager_config",
    "pid_alive",
    "require_binary",
    "static_scrape_config",
    "wait_for_http",
]


def in_ci() -> bool:
    """True when running under CI (``CI=true``), where missing services fail instead of skipping."""
    return os.environ.get("CI", "").lower() == "true"


def require_binary(name: str) -> str:
    """Path of ``name`` on PATH; otherwise skip the test (or fail it under CI) with the install hint."""
    try:
        return processes.find_binary(name)
    except MissingBinaryError as exc:
        if in_ci():
            pytest.fail(str(exc), pytrace=False)
        pytest.skip(str(exc))


class Prometheus(processes.Prometheus):
    """:class:`sample_app.processes.Prometheus` that skips (or fails under CI) without the binary."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        require_binary("prometheus")
        super().__init__(*args, **kwargs)


class Alertmanager(processes.Alertmanager):
    """:class:`sample_app.processes.Alertmanager` that skips (or fails under CI) without the binary."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        require_binary("prometheus-alertmanager")
        super().__init__(*args, **kwargs)


class WebhookSink(WebhookReceiver):
    """Records Alertmanager webhook payloads; ``.alerts()``, ``wait_for(predicate, timeout)``."""
