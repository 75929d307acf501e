"""Alerting rules other than the SLO burn-rate alerts, one module per family.

=================  ==========================================================================
``routes``         per-route error spikes and p99 latency regressions (tickets)
``saturation``     CPU, memory, file descriptors, workers, DB connections, N+1 after a deploy
``availability``   instance down, too few healthy instances, service down or without targets,
                   metrics gone
``pipeline``       telemetry drops, log shipping, background tasks, and the Watchdog heartbeat
=================  ==========================================================================

Each module exposes ``group(ctx) -> RuleGroup``. The SLO alerts live with their records in
:mod:`alerting.slo_rules`.
"""

from __future__ import annotations

from alerting.alerts import availability, pipeline, routes, saturation
from alerting.context import Context
from alerting.model import RuleGroup


def groups(ctx: Context) -> tuple[RuleGroup, ...]:
    return (routes.group(ctx), saturation.group(ctx), availability.group(ctx), pipeline.group(ctx))
