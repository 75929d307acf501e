"""Recording rules, named ``level:metric:operations``.

Levels: ``job`` (one series per service, and per ``environment`` where the scrape config adds
that label), ``job_route`` (per service and URL pattern) and ``instance`` (per scraped target).
Operations name the window (``rate5m``) and what was done (``ratio_``, ``p99_``). Records keep
their nominal window in the name even in a time-scaled variant (:class:`alerting.promql.Durations`),
so the alerts and dashboards read the same names everywhere.

HTTP records (every service)::

    job:http_server_requests:rate{5m,30m,1h,2h,6h,1d,3d}            requests per second
    job:http_server_request_errors:ratio_rate{5m,...,3d}             share answered 5xx (0 when none)
    job:http_server_request_errors:rate5m                            5xx per second
    job:http_server_request_duration_seconds:p{50,95,99}_rate5m      latency quantiles
    job_route:http_server_requests:rate{5m,30m}
    job_route:http_server_request_errors:ratio_rate5m
    job_route:http_server_request_duration_seconds:p{50,95,99}_rate5m, p99_rate30m, p99_rate1d

Runtime records (per instance)::

    instance:fleetobs_process_cpu_utilisation:ratio_rate5m           CPU used / CPU limit
    instance:fleetobs_process_memory_utilisation:ratio               resident / limit
    instance:fleetobs_process_fds_utilisation:ratio                  open / max file descriptors
    instance:fleetobs_server_worker_utilisation:ratio                in-flight / worker capacity
    instance:fleetobs_websocket_connection_utilisation:ratio         open WebSockets / capacity
    job:fleetobs_db_n_plus_one:ratio_rate{30m,1d}                    N+1 requests / all requests

The SLO records (latency SLI, objectives, budgets) depend on each service's objectives and live in
:mod:`alerting.slo_rules`.
"""

from __future__ import annotations

from alerting.context import Context
from alerting.model import Record, RuleGroup
from alerting.promql import SERVICE, series, sum_rate
from alerting.slo import RATE_WINDOWS

HTTP = "http_server_request_duration_seconds"
COUNT = f"{HTTP}_count"
BUCKET = f"{HTTP}_bucket"
ERRORS = 'http_response_status_code=~"5.."'
QUANTILES = (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))


def requests_rate(level: str, window: str) -> str:
    return f"{level}:http_server_requests:rate{window}"


def error_ratio(level: str, window: str) -> str:
    return f"{level}:http_server_request_errors:ratio_rate{window}"


def quantile(level: str, q: str, window: str) -> str:
    return f"{level}:http_server_request_duration_seconds:{q}_rate{window}"


def _by(level: str) -> tuple[str, ...]:
    return {"job": SERVICE, "job_route": (*SERVICE, "http_route")}[level]


def _ratio_with_zero(level: str, window: str, ctx: Context, *matchers: str) -> str:
    """5xx share that is 0, not missing, for a service that never answered 5xx."""
    w = ctx.durations(window)
    by = _by(level)
    errors = sum_rate(COUNT, w, by, ERRORS, *matchers)
    total = sum_rate(COUNT, w, by, *matchers)
    return f"({errors} or {total} * 0)\n/\n{total}"


def _quantile_expr(level: str, q: float, window: str, ctx: Context) -> str:
    by = (*_by(level), "le")
    return f"histogram_quantile({q}, {sum_rate(BUCKET, ctx.durations(window), by)})"


def http_group(ctx: Context) -> RuleGroup:
    rules: list[Record] = []
    for window in RATE_WINDOWS:
        rules.append(Record(requests_rate("job", window), sum_rate(COUNT, ctx.durations(window), SERVICE)))
        rules.append(Record(error_ratio("job", window), _ratio_with_zero("job", window, ctx)))
    rules.append(
        Record("job:http_server_request_errors:rate5m", sum_rate(COUNT, ctx.durations("5m"), SERVICE, ERRORS))
    )
    rules.extend(
        Record(quantile("job", name, "5m"), _quantile_expr("job", q, "5m", ctx)) for name, q in QUANTILES
    )
    by_route = _by("job_route")
    rules.extend(
        Record(requests_rate("job_route", window), sum_rate(COUNT, ctx.durations(window), by_route))
        for window in ("5m", "30m")
    )
    rules.append(Record(error_ratio("job_route", "5m"), _ratio_with_zero("job_route", "5m", ctx)))
    rules.extend(
        Record(quantile("job_route", name, "5m"), _quantile_expr("job_route", q, "5m", ctx))
        for name, q in QUANTILES
    )
    rules.extend(
        Record(quantile("job_route", "p99", window), _quantile_expr("job_route", 0.99, window, ctx))
        for window in ("30m", "1d")
    )
    return RuleGroup("fleetobs-http-recording", tuple(rules))


def runtime_group(ctx: Context) -> RuleGroup:
    d = ctx.durations
    cpu = f"rate({series('fleetobs_process_cpu_seconds_total')}[{d('5m')}])"
    n_plus_one = [
        Record(
            f"job:fleetobs_db_n_plus_one:ratio_rate{w}",
            sum_rate("fleetobs_db_n_plus_one_total", d(w), SERVICE)
            + "\n/\n"
            + sum_rate(COUNT, d(w), SERVICE),
        )
        for w in ("30m", "1d")
    ]
    rules = (
        Record(
            "instance:fleetobs_process_cpu_utilisation:ratio_rate5m",
            f"{cpu}\n/\n({series('fleetobs_process_cpu_limit_cores')} > 0)",
        ),
        Record(
            "instance:fleetobs_process_memory_utilisation:ratio",
            f"{series('fleetobs_process_resident_memory_bytes')}\n/\n"
            f"({series('fleetobs_process_memory_limit_bytes')} > 0)",
        ),
        Record(
            "instance:fleetobs_process_fds_utilisation:ratio",
            f"{series('fleetobs_process_open_fds')}\n/\n({series('fleetobs_process_max_fds')} > 0)",
        ),
        Record(
            "instance:fleetobs_server_worker_utilisation:ratio",
            f"{series('http_server_active_requests')}\n/\n({series('fleetobs_server_worker_capacity')} > 0)",
        ),
        Record(
            "instance:fleetobs_websocket_connection_utilisation:ratio",
            f"sum without (websocket_route) ({series('fleetobs_websocket_connections_active')})\n/\n"
            f"({series('fleetobs_websocket_connection_capacity')} > 0)",
        ),
        *n_plus_one,
    )
    return RuleGroup("fleetobs-runtime-recording", rules)


def groups(ctx: Context) -> tuple[RuleGroup, ...]:
    return (http_group(ctx), runtime_group(ctx))
