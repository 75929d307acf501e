"""One doctor run: every check in order, each backend's failure kept to itself.

:func:`run` is the library entry point the command, CI pipelines and the test suite share::

    from doctor import Options, run
    report = run(Options(prometheus="http://prometheus:9090", jobs=("shop",)))
    report.exit_code, report.text(), report.to_json()

Order: Targets (it finds the jobs in scope and what they expose, which the rest reuse), Labels,
Dashboards, Rules (and Alertmanager routing with ``alertmanager``), Cardinality, then Logs and
Grafana when their URLs are given. A backend that cannot be reached is recorded in
``report.unreachable`` (exit 2) and the checks that need it are skipped; the others still run.
Each check, as it finishes or is skipped, is a line of ``progress`` (the command's stderr).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from doctor import cardinality, grafana, labels, logs, panels, rules, targets
from doctor.expand import TimeRange
from doctor.explain import human_duration
from doctor.findings import Finding, Report
from doctor.http import BackendUnreachableError
from doctor.prometheus import Prometheus, QueryError
from fleetobs_cli.progress import Progress

DEFAULT_RANGE = 3600.0
DEFAULT_SCRAPE_INTERVAL = 15.0


@dataclass(frozen=True)
class Options:
    prometheus: str
    alertmanager: str | None = None
    elasticsearch: str | None = None
    elasticsearch_api_key: str | None = None
    grafana: str | None = None
    grafana_token: str | None = None
    #: Jobs (services) to check; empty: every job exposing ``fleetobs_build_info``.
    jobs: tuple[str, ...] = ()
    #: Seconds of history the dashboard queries look at (a dashboard's time range).
    range_seconds: float = DEFAULT_RANGE
    slo_file: Path | None = None
    max_routes: int = cardinality.DEFAULT_MAX_ROUTES
    timeout: float = 10.0


def _scrape_interval(fleet: targets.Fleet) -> float:
    intervals = [
        targets._seconds(str(t.get("scrapeInterval", "")))
        for job in fleet.jobs
        for t in fleet.targets.get(job, [])
    ]
    return min((i for i in intervals if i > 0), default=DEFAULT_SCRAPE_INTERVAL)


def planned_checks(options: Options) -> list[tuple[str, str]]:
    """The checks a run makes, in order, with the backend each needs."""
    planned = [(name, "Prometheus") for name in ("Targets", "Labels", "Dashboards", "Rules")]
    if options.alertmanager:
        planned.append(("Alertmanager routing", "Alertmanager"))
    planned.append(("Cardinality", "Prometheus"))
    if options.elasticsearch:
        planned.append(("Logs", "Elasticsearch"))
    if options.grafana:
        planned.append(("Grafana", "Grafana"))
    return planned


def run(options: Options, progress: Progress | None = None) -> Report:
    report = Report()
    report.facts["prometheus"] = options.prometheus
    now = time.time()
    started = time.monotonic()
    planned = planned_checks(options)
    progress = progress or Progress(len(planned), quiet=True)

    def step(name: str, backend: str, body: Callable[[], list[Finding]]) -> None:
        if backend in report.unreachable:
            progress.done(name, f"skipped ({backend} unreachable)")
            return
        before = len(report.findings)
        try:
            report.add(body())
        except BackendUnreachableError as exc:
            report.unreachable[backend] = str(exc)
            progress.done(name, f"cannot check ({backend} unreachable)")
        except QueryError as exc:
            report.unreachable[backend] = f"a query of the {name} check failed: {exc}"
            progress.done(name, "cannot check (a query failed)")
        else:
            report.checks.append(name)
            found = len(report.findings) - before
            progress.done(name, f"{found} finding(s)" if found else "ok")

    prometheus = Prometheus.at(options.prometheus, options.timeout)
    fleet = targets.Fleet()
    try:
        prometheus.ping()
        fleet = targets.discover(prometheus, options.jobs)
    except (BackendUnreachableError, QueryError) as exc:
        report.unreachable["Prometheus"] = str(exc)
    if "Prometheus" in report.unreachable:
        for name, backend in planned:
            if backend in {"Prometheus", "Alertmanager"}:  # routing is read through Prometheus too
                progress.done(name, "skipped (Prometheus unreachable)")
    else:
        report.facts["jobs"] = ", ".join(fleet.jobs) or "none"
        time_range = TimeRange(options.range_seconds, _scrape_interval(fleet))
        rate_interval = time_range.builtins()["__rate_interval"]
        report.facts["range"] = (
            f"last {human_duration(options.range_seconds)} "
            f"(scrape interval {time_range.scrape_interval:g}s, $__rate_interval {rate_interval})"
        )
        step("Targets", "Prometheus", lambda: targets.check(prometheus, fleet))
        step("Labels", "Prometheus", lambda: labels.check(prometheus, fleet, now))

        def dashboards() -> list[Finding]:
            # Jobs with no instrumented instance are reported by Targets; their panels say nothing more.
            jobs = [job for job in fleet.jobs if fleet.builds.get(job)]
            if not jobs:
                return []
            found, facts = panels.check(prometheus, jobs, time_range, now)
            report.facts.update(facts)
            return found

        step("Dashboards", "Prometheus", dashboards)
        step(
            "Rules",
            "Prometheus",
            lambda: rules.check(prometheus, options.slo_file, now, options.range_seconds),
        )
        if options.alertmanager:
            alertmanager = options.alertmanager
            report.facts["alertmanager"] = alertmanager
            step(
                "Alertmanager routing",
                "Alertmanager",
                lambda: rules.alertmanager_check(prometheus, alertmanager, fleet.jobs, options.slo_file),
            )

        def cardinality_check() -> list[Finding]:
            found, facts = cardinality.check(prometheus, fleet, options.max_routes)
            report.facts.update(facts)
            return found

        step("Cardinality", "Prometheus", cardinality_check)
    if options.elasticsearch:
        report.facts["elasticsearch"] = options.elasticsearch
        es = logs.client(options.elasticsearch, options.elasticsearch_api_key, options.timeout)
        services = sorted(
            {b.get("service_name", job) for job in fleet.jobs for b in fleet.builds.get(job, {}).values()}
            or set(fleet.jobs)
        )
        step("Logs", "Elasticsearch", lambda: logs.check(es, services))
    if options.grafana:
        report.facts["grafana"] = options.grafana
        client = grafana.client(options.grafana, options.grafana_token, options.timeout)
        step("Grafana", "Grafana", lambda: grafana.check(client, panels.generated_dashboards()))
    report.facts["took"] = f"{time.monotonic() - started:.1f} s"
    return report
