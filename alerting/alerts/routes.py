"""Per-route tickets: one URL pattern failing or slowing down while the service as a whole is fine.

A service-wide SLO can stay green while one endpoint is broken, because the healthy ones dilute it.
These alerts look at each ``http_route`` separately, skip the health and metrics endpoints, and
need a minimum request rate on the route, so a rarely used admin page cannot open tickets.
"""

from __future__ import annotations

from alerting.context import Context
from alerting.model import Alert, RuleGroup
from alerting.promql import regex_alternatives
from alerting.recording import error_ratio, quantile, requests_rate


def group(ctx: Context) -> RuleGroup:
    t = ctx.spec.thresholds
    d = ctx.durations
    excluded = f'{{http_route!~"{regex_alternatives(t.excluded_routes)}"}}' if t.excluded_routes else ""
    p99_now = f"{quantile('job_route', 'p99', '30m')}{excluded}"
    spike = Alert(
        alert="FleetobsRouteErrorSpike",
        expr=(
            f"{error_ratio('job_route', '5m')}{excluded} > {t.route_error_ratio}\n"
            f"and on (job, environment, http_route)\n"
            f"  {requests_rate('job_route', '5m')} > {t.route_min_request_rate}"
        ),
        for_=d.for_("5m"),
        severity="warning",
        summary="One route of {{ $labels.job }} answers 5xx to many of its requests.",
        description=(
            "{{ $value | humanizePercentage }} of requests to {{ $labels.http_route }} on {{ $labels.job }} "
            f"answered 5xx over the last 5m (threshold {t.route_error_ratio:.0%})."
        ),
        runbook_url=ctx.runbook("FleetobsRouteErrorSpike"),
        dashboard_url=ctx.dashboard("service", "job", route="http_route"),
    )
    regression = Alert(
        alert="FleetobsRouteLatencyRegression",
        expr=(
            f"{p99_now}\n  > {t.route_p99_regression_factor} * "
            f"({quantile('job_route', 'p99', '1d')} offset {d('1h')})\n"
            f"and\n  {p99_now} > {t.route_p99_floor_seconds}\n"
            f"and on (job, environment, http_route)\n"
            f"  {requests_rate('job_route', '30m')} > {t.route_min_request_rate}"
        ),
        for_=d.for_("15m"),
        severity="warning",
        summary="The p99 latency of one route of {{ $labels.job }} regressed.",
        description=(
            "p99 latency of {{ $labels.http_route }} on {{ $labels.job }} is {{ $value | humanizeDuration }} "
            f"over the last 30m, more than {t.route_p99_regression_factor:g}x its p99 over the day before."
        ),
        runbook_url=ctx.runbook("FleetobsRouteLatencyRegression"),
        dashboard_url=ctx.dashboard("service", "job", route="http_route"),
    )
    return RuleGroup("fleetobs-routes", (spike, regression))
