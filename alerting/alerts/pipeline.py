"""The pipelines around the application: telemetry export, background tasks, and alerting itself.

* Telemetry: spans and log records dropped (queue full, export failed, rejected) as a share of
  everything handed over, and log shipping that fails without a single success.
* Background tasks: failure ratio per task name, and queues backing up (tasks waiting long before a
  worker picks them up, or published with no worker running them at all).
* ``Watchdog`` always fires. Alertmanager routes it to a heartbeat receiver (a dead man's switch);
  when the heartbeat stops arriving, something between Prometheus and the pager is broken.
"""

from __future__ import annotations

from alerting.context import Context
from alerting.model import Alert, RuleGroup
from alerting.promql import SERVICE, sum_rate


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
        dashboard: str,
        variables: tuple[str, ...] = ("job",),
        **labels: str,
    ) -> Alert:
        return Alert(
            alert=name,
            expr=expr,
            for_=d.for_(for_) if for_ else "",
            severity=severity,
            summary=summary,
            description=description,
            runbook_url=ctx.runbook(name),
            dashboard_url=ctx.dashboard(dashboard, *variables),
            labels=labels,
        )

    by_signal = (*SERVICE, "signal")
    dropped = sum_rate("fleetobs_telemetry_dropped_total", d("10m"), by_signal)
    exported = sum_rate("fleetobs_telemetry_exported_total", d("10m"), by_signal)
    log_failures = sum_rate(
        "fleetobs_telemetry_export_failures_total", d("5m"), (*SERVICE, "instance"), 'signal="logs"'
    )
    log_exports = sum_rate(
        "fleetobs_telemetry_exported_total", d("5m"), (*SERVICE, "instance"), 'signal="logs"'
    )
    by_task = (*SERVICE, "task_name")
    executions = "fleetobs_task_executions_total"
    failures = sum_rate(executions, d("15m"), by_task, 'task_state="failure"')
    finished = sum_rate(executions, d("15m"), by_task)
    wait_buckets = sum_rate(
        "fleetobs_task_queue_wait_seconds_bucket", d("10m"), ("environment", "task_name", "le")
    )
    wait_p95 = f"histogram_quantile(0.95, {wait_buckets})"
    published = sum_rate("fleetobs_task_published_total", d("15m"), ("environment", "task_name"))
    started = sum_rate(executions, d("15m"), ("environment", "task_name"))
    rules = (
        alert(
            "FleetobsTelemetryDropped",
            f"{dropped}\n/\n(\n  {dropped}\n  + ({exported} or {dropped} * 0)\n) > {t.telemetry_drop_ratio}",
            "15m",
            "warning",
            "{{ $labels.job }} is dropping {{ $labels.signal }} before they reach their backend.",
            "{{ $labels.job }} dropped {{ $value | humanizePercentage }} of its {{ $labels.signal "
            "}} over the "
            f"last 10m (threshold {t.telemetry_drop_ratio:.0%}): traces or logs of this period are "
            "incomplete.",
            "resources",
        ),
        alert(
            "FleetobsLogShippingFailing",
            f"{log_failures} > 0\nunless on (job, environment, instance)\n  {log_exports} > 0",
            "10m",
            "warning",
            "{{ $labels.instance }} of {{ $labels.job }} cannot ship its logs.",
            "Every attempt of {{ $labels.instance }} ({{ $labels.job }}) to ship logs failed for 10m "
            "({{ $value | printf `%.2g` }} failures per second); the logs pile up in its queue and "
            "then get dropped.",
            "resources",
            ("job", "instance"),
        ),
        alert(
            "FleetobsTaskFailures",
            f"{failures}\n/\n{finished} > {t.task_failure_ratio}\nand on (job, environment, task_name)\n  "
            f"{finished} > {t.task_min_rate}",
            "15m",
            "warning",
            "Background task {{ $labels.task_name }} of {{ $labels.job }} fails often.",
            "{{ $value | humanizePercentage }} of the runs of {{ $labels.task_name }} on {{ "
            "$labels.job }} failed "
            f"over the last 15m (threshold {t.task_failure_ratio:.0%}).",
            "tasks",
        ),
        alert(
            "FleetobsTaskQueueBacklog",
            f"{wait_p95} > {t.task_queue_wait_seconds:g}",
            "15m",
            "warning",
            "Background task {{ $labels.task_name }} waits long in its queue.",
            "95% of {{ $labels.task_name }} tasks waited up to {{ $value | humanizeDuration }} in "
            "the queue over "
            f"the last 10m before a worker started them (threshold {t.task_queue_wait_seconds:g}s).",
            "tasks",
            (),
            backlog="slow",
        ),
        alert(
            "FleetobsTaskQueueBacklog",
            f"{published} > {t.task_min_rate}\nunless on (environment, task_name)\n  {started} > 0",
            "15m",
            "warning",
            "Background task {{ $labels.task_name }} is queued but no worker runs it.",
            "{{ $labels.task_name }} is published {{ $value | printf `%.2g` }} times per second "
            "but no run finished in "
            "the last 15m: no worker consumes its queue.",
            "tasks",
            (),
            backlog="unconsumed",
        ),
        alert(
            "Watchdog",
            "vector(1)",
            "",
            "info",
            "The alerting pipeline is alive; this alert always fires.",
            "Watchdog always fires (value {{ $value }}) so a heartbeat receiver can notice when alerts stop "
            "arriving from Prometheus through Alertmanager.",
            "fleet",
            (),
        ),
    )
    return RuleGroup("fleetobs-pipeline", rules)
