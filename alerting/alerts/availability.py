"""Availability of the fleet itself: targets that stopped answering, services short of instances,
services that vanished from discovery, and instances whose metrics disappeared.

``FleetobsInstanceDown`` is also the source of an Alertmanager inhibition: while an instance is
down, its other alerts (same ``job`` and ``instance``) are muted, since they only repeat the news.
A service named in the SLO spec is "known": if discovery stops returning any target for it,
``absent(up{job=...})`` notices, which no ``up == 0`` rule can.
"""

from __future__ import annotations

from alerting.context import Context
from alerting.model import Alert, RuleGroup
from alerting.promql import regex_alternatives, series


def group(ctx: Context) -> RuleGroup:
    spec = ctx.spec
    d = ctx.durations
    listed = spec.known_services
    instrumented = f"group by (job, environment) (max_over_time({series('fleetobs_build_info')}[{d('1d')}]))"

    def alert(
        name: str,
        expr: str,
        for_: str,
        severity: str,
        summary: str,
        description: str,
        variables: tuple[str, ...] = ("job",),
        **labels: str,
    ) -> Alert:
        return Alert(
            alert=name,
            expr=expr,
            for_=d.for_(for_),
            severity=severity,
            summary=summary,
            description=description,
            runbook_url=ctx.runbook(name),
            dashboard_url=ctx.dashboard("fleet", *variables),
            labels=labels,
        )

    rules: list[Alert] = [
        alert(
            "FleetobsInstanceDown",
            f"{series('up')} == 0",
            "2m",
            "warning",
            "{{ $labels.instance }} of {{ $labels.job }} is down.",
            "Prometheus could not scrape {{ $labels.instance }} of {{ $labels.job }} for 2m (up = "
            "{{ $value }}); "
            "the instance is stopped, crashed, or unreachable.",
            ("job", "instance"),
        ),
        alert(
            "FleetobsServiceDown",
            f"sum by (job, environment) ({series('up')}) == 0",
            "2m",
            "critical",
            "Every instance of {{ $labels.job }} is down.",
            "{{ $value }} instances of {{ $labels.job }} answer scrapes: the whole service is unreachable.",
        ),
    ]

    def too_few(sel: str, minimum: int, guard: str, entry: str) -> Alert:
        healthy = f"sum by (job, environment) ({series('up', sel)})"
        return alert(
            "FleetobsTooFewInstances",
            f"{healthy} < {minimum}\nand\n  {healthy} > 0{guard}",
            "5m",
            "warning",
            "{{ $labels.job }} runs fewer healthy instances than it needs for high availability.",
            f"Only {{{{ $value }}}} instance(s) of {{{{ $labels.job }}}} are up, fewer than its "
            f"minimum of {minimum}; "
            "one more failure takes the service down.",
            spec=entry,
        )

    rules.extend(
        too_few(_job(slo.name), slo.min_instances, "", slo.name)
        for slo in spec.services
        if slo.min_instances > 1
    )
    if spec.default.min_instances > 1:
        default_sel = f'job!~"{regex_alternatives(listed)}"' if listed else ""
        rules.append(
            too_few(
                default_sel,
                spec.default.min_instances,
                f"\nand on (job, environment)\n  {instrumented}",
                "default",
            )
        )
    rules.extend(
        alert(
            "FleetobsServiceNoTargets",
            f"absent({series('up', _job(name))})",
            "5m",
            "critical",
            "Prometheus has no target at all for {{ $labels.job }}.",
            "Service discovery returns no target for {{ $labels.job }} (absent = {{ $value }}): it is not "
            "deployed, scaled to zero, or its scrape configuration or labels changed.",
            # One rule per service, told apart by this label (as FleetobsTooFewInstances is): rules
            # with the same name and labels are duplicates to promtool's linter.
            spec=name,
        )
        for name in listed
    )
    rules.append(
        alert(
            "FleetobsMetricsAbsent",
            f"{series('scrape_samples_scraped')}\n"
            f"and on (job, instance) {series('up')} == 1\n"
            "and on (job, instance) group by (job, instance) "
            f"(max_over_time({series('fleetobs_build_info')}[{d('1d')}]))\n"
            f"unless on (job, instance) {series('fleetobs_build_info')}",
            "10m",
            "warning",
            "{{ $labels.instance }} of {{ $labels.job }} answers scrapes without its fleetobs metrics.",
            "A scrape of {{ $labels.instance }} ({{ $labels.job }}) returns {{ $value }} samples but no "
            "fleetobs_build_info, which it exposed within the last day: the instrumentation is off "
            "or broken.",
            ("job", "instance"),
        )
    )
    return RuleGroup("fleetobs-availability", tuple(rules))


def _job(name: str) -> str:
    return f'job="{name}"'
