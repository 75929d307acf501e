"""Saturation: an instance running out of CPU, memory, file descriptors, workers or WebSocket
connection capacity, and the database side of the same story (connections failing, N+1 queries
creeping in, migrations not applied).

Every ratio comes from the ``instance:*`` records of :mod:`alerting.recording`, whose limits are
the instance's own (cgroup quota, cgroup memory limit, ``RLIMIT_NOFILE``, workers x threads,
``ObservedWebSockets``' ``max_connections`` summed over its processes). Each
alert needs its condition to hold for several minutes (``for:``), so a short blip such as a burst of
traffic or a garbage-collection spike does not page.
"""

from __future__ import annotations

from alerting.context import Context
from alerting.model import Alert, RuleGroup
from alerting.promql import SERVICE, check_labels, series, sum_rate


def group(ctx: Context) -> RuleGroup:
    t = ctx.spec.thresholds
    d = ctx.durations

    def alert(
        name: str,
        expr: str,
        for_: str,
        severity: str,
        summary: str,
        description: str,
        dashboard: str = "resources",
        variables: tuple[str, ...] = ("job", "instance"),
    ) -> Alert:
        return Alert(
            alert=name,
            expr=expr,
            for_=d.for_(for_),
            severity=severity,
            summary=summary,
            description=description,
            runbook_url=ctx.runbook(name),
            dashboard_url=ctx.dashboard(dashboard, *variables),
        )

    check_labels("fleetobs_build_info", (*SERVICE, "service_version"))
    deployed = (
        "count by (job, environment) (\n    count by (job, environment, service_version) "
        f"(max_over_time({series('fleetobs_build_info')}[{d('6h')}]))\n  ) > 1"
    )
    n_plus_one_now = "job:fleetobs_db_n_plus_one:ratio_rate30m"
    connection_errors = sum_rate(
        "fleetobs_db_connection_errors_total", d("2m"), (*SERVICE, "instance", "db_alias")
    )
    rules = (
        alert(
            "FleetobsCPUNearLimit",
            f"instance:fleetobs_process_cpu_utilisation:ratio_rate5m > {t.cpu_ratio}",
            "15m",
            "warning",
            "{{ $labels.instance }} of {{ $labels.job }} uses nearly all the CPU it may use.",
            "{{ $labels.instance }} of {{ $labels.job }} used {{ $value | humanizePercentage }} of its CPU "
            f"limit over the last 5m (threshold {t.cpu_ratio:.0%}); requests queue and slow down.",
        ),
        alert(
            "FleetobsMemoryNearLimit",
            f"instance:fleetobs_process_memory_utilisation:ratio > {t.memory_ratio}",
            "10m",
            "warning",
            "{{ $labels.instance }} of {{ $labels.job }} is close to its memory limit.",
            "The workers of {{ $labels.instance }} ({{ $labels.job }}) hold {{ $value | "
            "humanizePercentage }} "
            f"of the memory limit (threshold {t.memory_ratio:.0%}); the kernel will kill a worker "
            "when it is hit.",
        ),
        alert(
            "FleetobsFileDescriptorsNearLimit",
            f"instance:fleetobs_process_fds_utilisation:ratio > {t.fds_warning_ratio}",
            "10m",
            "warning",
            "A worker of {{ $labels.instance }} ({{ $labels.job }}) is running out of file descriptors.",
            "The busiest worker of {{ $labels.instance }} ({{ $labels.job }}) has "
            "{{ $value | humanizePercentage }} of its file descriptors open "
            f"(warning above {t.fds_warning_ratio:.0%}).",
        ),
        alert(
            "FleetobsFileDescriptorsNearLimit",
            f"instance:fleetobs_process_fds_utilisation:ratio > {t.fds_critical_ratio}",
            "5m",
            "critical",
            "A worker of {{ $labels.instance }} ({{ $labels.job }}) is about to run out of file descriptors.",
            "The busiest worker of {{ $labels.instance }} ({{ $labels.job }}) has "
            "{{ $value | humanizePercentage }} of its file descriptors open "
            f"(critical above {t.fds_critical_ratio:.0%}); new connections and files will fail.",
        ),
        alert(
            "FleetobsWorkersSaturated",
            f"avg_over_time(instance:fleetobs_server_worker_utilisation:ratio[{d('5m')}]) > "
            f"{t.worker_busy_ratio}",
            "10m",
            "warning",
            "Nearly every worker of {{ $labels.instance }} ({{ $labels.job }}) is busy.",
            "On average {{ $value | humanizePercentage }} of the worker capacity of {{ $labels.instance }} "
            f"({{{{ $labels.job }}}}) was serving requests over the last 5m (threshold "
            f"{t.worker_busy_ratio:.0%}); "
            "new requests wait for a free worker.",
        ),
        alert(
            "FleetobsWebSocketConnectionsNearCapacity",
            f"avg_over_time(instance:fleetobs_websocket_connection_utilisation:ratio[{d('5m')}]) > "
            f"{t.websocket_connections_ratio}",
            "10m",
            "warning",
            "{{ $labels.instance }} of {{ $labels.job }} holds nearly as many WebSocket connections as it "
            "is sized for.",
            "On average {{ $value | humanizePercentage }} of the WebSocket connection capacity of "
            "{{ $labels.instance }} ({{ $labels.job }}) was in use over the last 5m (threshold "
            f"{t.websocket_connections_ratio:.0%}); beyond it, memory, file descriptors and the event loop "
            "run short and every connection slows down.",
            "service",
        ),
        alert(
            "FleetobsDatabaseConnectionErrors",
            f"{connection_errors} > 0",
            "5m",
            "warning",
            "{{ $labels.instance }} of {{ $labels.job }} cannot connect to database {{ $labels.db_alias }}.",
            "{{ $labels.instance }} of {{ $labels.job }} failed {{ $value | printf `%.2g` }} "
            "connection attempts per "
            "second to database {{ $labels.db_alias }} over the last 2m, for at least 5m.",
            "database",
        ),
        alert(
            "FleetobsNPlusOneRising",
            f"{n_plus_one_now} > {t.n_plus_one_ratio}\nand on (job, environment)\n  {n_plus_one_now}\n"
            f"  > 2 * (\n    (job:fleetobs_db_n_plus_one:ratio_rate1d offset {d('6h')})\n"
            f"    or on (job, environment) (job:http_server_requests:rate1d offset {d('6h')}) * 0\n  )\n"
            f"and on (job, environment)\n  {deployed}",
            "30m",
            "info",
            "{{ $labels.job }} runs N+1 queries on more requests since its last deploy.",
            "{{ $value | humanizePercentage }} of {{ $labels.job }} requests ran the same SQL "
            "statement past the "
            "N+1 threshold over the last 30m, more than twice the share before a new version was deployed "
            "in the last 6h.",
            "database",
            ("job",),
        ),
        alert(
            "FleetobsMigrationsUnapplied",
            f"max by (job, environment, db_alias) ({series('fleetobs_django_migrations_unapplied')}) > 0",
            "15m",
            "warning",
            "{{ $labels.job }} runs code whose database migrations are not applied.",
            "{{ $labels.job }} knows {{ $value }} migration(s) not applied to database {{ "
            "$labels.db_alias }}; "
            "queries touching the new schema will fail.",
            "database",
            ("job",),
        ),
    )
    return RuleGroup("fleetobs-saturation", rules)
