"""Labels: the labels the dashboards and alerts rely on exist, with the values they expect.

* ``job`` must be the service name the instances report (``service_name`` of
  ``fleetobs_build_info``): the Logs dashboard, trace-to-metrics links and the SLO spec all find a
  service's metrics by ``job``.
* ``environment`` is optional (dashboards and alerts work per job without it), but it must be on
  every target or none: when some targets carry it and others do not, choosing an environment in
  a dashboard hides the unlabelled ones and alerts group them apart. When no target has it, a
  note says what adding it would give.
* Every catalogue label of every metric the jobs expose must survive the scrape: a
  ``metric_relabel_configs`` rule dropping, say, ``http_route`` empties every per-route panel.

Each finding carries the relabelling snippet for ``static_configs``, ``kubernetes_sd_configs``
and a ``ServiceMonitor``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from doctor import snippets
from doctor.findings import Finding, Severity
from doctor.prometheus import Prometheus
from doctor.targets import Fleet
from instrumentation.catalog import METRICS, Metric

CHECK = "Labels"
ENVIRONMENT = "environment"


def check(prometheus: Prometheus, fleet: Fleet, now: float) -> list[Finding]:
    findings: list[Finding] = []
    for job in fleet.jobs:
        findings.extend(_job_name(job, fleet))
    findings.extend(_environment(fleet))
    findings.extend(_catalogue_labels(prometheus, fleet.jobs, now))
    return findings


def _job_name(job: str, fleet: Fleet) -> list[Finding]:
    services = Counter(labels.get("service_name", "") for labels in fleet.builds.get(job, {}).values())
    services.pop("", None)
    if not services or job in services:
        return []
    service = services.most_common(1)[0][0]
    return [
        Finding(
            CHECK,
            Severity.WARNING,
            f"job {job}",
            f"the job is named {job!r} but its instances report the service {service!r}: the Logs "
            "dashboard, trace-to-metrics links and per-service SLOs look the service up by job",
            f"name the job {service!r} (or set SERVICE_NAME to {job!r})",
            snippets.job_name(job, service),
        )
    ]


def _environment(fleet: Fleet) -> list[Finding]:
    with_env: dict[str, list[str]] = {}
    without: dict[str, list[str]] = {}
    values: Counter[str] = Counter()
    for job in fleet.jobs:
        for target in fleet.targets.get(job, []):
            labels = target.get("labels", {})
            instance = labels.get("instance", "?")
            if labels.get(ENVIRONMENT):
                with_env.setdefault(job, []).append(instance)
                values[labels[ENVIRONMENT]] += 1
            else:
                without.setdefault(job, []).append(instance)
    if not values:
        if not without:
            return []
        return [
            Finding(
                CHECK,
                Severity.INFO,
                "fleet",
                "no target carries an environment label: dashboards and alerts work per job; add it "
                "when one Prometheus scrapes several environments, to tell them apart",
                snippet=snippets.target_label(fleet.jobs[0], ENVIRONMENT, "production"),
            )
        ]
    value = values.most_common(1)[0][0]
    findings = []
    for job, instances in sorted(without.items()):
        shown = ", ".join(sorted(instances)[:5]) + (" ..." if len(instances) > 5 else "")
        findings.append(
            Finding(
                CHECK,
                Severity.WARNING,
                f"job {job}",
                f"{len(instances)} target(s) lack the environment label that other targets carry "
                f"({shown}): selecting an environment hides them and their alerts group apart",
                f"add environment to every target of {job}",
                snippets.target_label(job, ENVIRONMENT, value),
            )
        )
    return findings


def _labelled_series(m: Metric) -> str:
    return m.series[0]


def _catalogue_labels(prometheus: Prometheus, jobs: Sequence[str], now: float) -> list[Finding]:
    if not jobs:
        return []
    regex = "|".join(re.escape(j) for j in jobs).replace("\\", "\\\\")
    start = now - 300
    present = set(prometheus.label_values("__name__", [f'{{job=~"{regex}"}}'], start, now))
    wanted = [m for m in METRICS if m.labels and _labelled_series(m) in present]

    def labels_of(m: Metric) -> set[str]:
        return set(prometheus.label_names([f'{_labelled_series(m)}{{job=~"{regex}"}}'], start, now))

    with ThreadPoolExecutor(8) as pool:
        found = dict(zip(wanted, pool.map(labels_of, wanted), strict=True))
    dropped: dict[str, list[str]] = {}
    for m, labels in found.items():
        for label in m.labels:
            if label not in labels:
                dropped.setdefault(label, []).append(m.name)
    findings = []
    for label, metrics in sorted(dropped.items()):
        findings.append(
            Finding(
                CHECK,
                Severity.WARNING,
                f"label {label}",
                f"{', '.join(sorted(metrics))} arrive without {label}, which the catalogue declares and "
                "the dashboards and alerts group by: a metric_relabel_configs rule drops it",
                f"stop dropping {label}",
                snippets.keep_label(jobs[0], label),
            )
        )
    return findings
