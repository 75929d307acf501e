"""Targets: which jobs run the instrumentation, whether Prometheus reaches every instance, and how.

From ``/api/v1/targets`` and ``fleetobs_build_info`` (which every instrumented process exposes
from start-up): the jobs in scope (those given with ``--job``, or every job exposing the metric),
each instance up or down with Prometheus's own error, scrapes that use most of their timeout
(with the sample count that makes them slow), instances of one job on different service versions,
and instances whose exposition lacks what the current instrumentation exposes from start-up
(an older fleetobs, or runtime sampling off).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from doctor import snippets
from doctor.findings import Finding, Severity
from doctor.prometheus import Prometheus
from instrumentation.catalog import METRICS, metric

CHECK = "Targets"
BUILD_INFO = metric("fleetobs_build_info")
#: Series every instrumented instance exposes from start-up (the runtime sampler's gauges).
STARTUP_SERIES = tuple(
    sorted(m.series[0] for m in METRICS if m.group == "runtime" and not m.labels and m.type == "gauge")
)
#: Share of the scrape timeout a scrape may take before it is reported.
SLOW_SCRAPE = 0.5


@dataclass
class Fleet:
    """What the Targets check learnt, for the checks after it."""

    jobs: list[str] = field(default_factory=list)
    #: job -> instance -> build_info labels.
    builds: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)
    #: job -> active targets (as /api/v1/targets gives them).
    targets: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


def _seconds(text: str) -> float:
    total = 0.0
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)", text):
        total += float(number) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}[unit]
    return total


def discover(prometheus: Prometheus, requested: Sequence[str]) -> Fleet:
    fleet = Fleet()
    for series in prometheus.query(BUILD_INFO.name):
        labels = series["metric"]
        fleet.builds.setdefault(labels.get("job", ""), {})[labels.get("instance", "")] = labels
    for target in prometheus.targets():
        fleet.targets.setdefault(target.get("labels", {}).get("job", ""), []).append(target)
    fleet.jobs = sorted(requested) if requested else sorted(fleet.builds)
    return fleet


def check(prometheus: Prometheus, fleet: Fleet) -> list[Finding]:
    findings: list[Finding] = []
    if not fleet.jobs:
        findings.append(
            Finding(
                CHECK,
                Severity.ERROR,
                "fleet",
                f"no job exposes {BUILD_INFO.name}: Prometheus scrapes no service instrumented with fleetobs",
                "scrape each service's /metrics in a job named after the service",
                snippets.scrape_job("SERVICE"),
            )
        )
        return findings
    samples = _per_instance(prometheus, "scrape_samples_scraped", fleet.jobs)
    startup = _startup_series(prometheus, fleet.jobs)
    for job in fleet.jobs:
        targets = fleet.targets.get(job, [])
        builds = fleet.builds.get(job, {})
        if not targets and not builds:
            findings.append(
                Finding(
                    CHECK,
                    Severity.ERROR,
                    f"job {job}",
                    "Prometheus scrapes no target of this job: the service is not scraped",
                    "add a scrape job named after the service",
                    snippets.scrape_job(job),
                )
            )
            continue
        if not builds:
            findings.append(
                Finding(
                    CHECK,
                    Severity.ERROR,
                    f"job {job}",
                    f"its {len(targets)} target(s) expose no {BUILD_INFO.name}: the service is not "
                    "instrumented with fleetobs, or the job scrapes another path than its /metrics",
                    "add instrumentation to INSTALLED_APPS and MIDDLEWARE, and scrape /metrics",
                )
            )
        findings.extend(_target_health(job, targets, builds, samples.get(job, {})))
        findings.extend(_versions(job, builds))
        findings.extend(_older(job, builds, startup.get(job, {})))
    return findings


def _per_instance(prometheus: Prometheus, name: str, jobs: Sequence[str]) -> dict[str, dict[str, float]]:
    regex = "|".join(re.escape(j) for j in jobs)
    out: dict[str, dict[str, float]] = defaultdict(dict)
    for series in prometheus.query(f'{name}{{job=~"{_q(regex)}"}}'):
        labels = series["metric"]
        out[labels.get("job", "")][labels.get("instance", "")] = float(series["value"][1])
    return out


def _startup_series(prometheus: Prometheus, jobs: Sequence[str]) -> dict[str, dict[str, set[str]]]:
    regex = "|".join(re.escape(j) for j in jobs)
    names = "|".join(STARTUP_SERIES)
    expr = f'count by (job, instance, __name__) ({{job=~"{_q(regex)}", __name__=~"{names}"}})'
    out: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for series in prometheus.query(expr):
        labels = series["metric"]
        out[labels.get("job", "")][labels.get("instance", "")].add(labels.get("__name__", ""))
    return out


def _q(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _target_health(
    job: str, targets: list[dict[str, Any]], builds: dict[str, dict[str, str]], samples: dict[str, float]
) -> list[Finding]:
    findings = []
    for target in targets:
        instance = target.get("labels", {}).get("instance", target.get("scrapeUrl", "?"))
        subject = f"job {job}, instance {instance}"
        health = target.get("health")
        if health == "down":
            findings.append(
                Finding(
                    CHECK,
                    Severity.ERROR,
                    subject,
                    f"down: {target.get('lastError') or 'scrape failed'} ({target.get('scrapeUrl')})",
                    "start the instance, or let Prometheus reach /metrics "
                    "(METRICS_ALLOWED_NETWORKS, METRICS_BEARER_TOKEN)",
                )
            )
            continue
        if health != "up":
            findings.append(Finding(CHECK, Severity.INFO, subject, "not scraped yet"))
            continue
        duration = float(target.get("lastScrapeDuration") or 0)
        timeout = _seconds(str(target.get("scrapeTimeout", "10s"))) or 10.0
        if duration > SLOW_SCRAPE * timeout:
            count = samples.get(instance)
            what = f" for {int(count)} samples" if count is not None else ""
            findings.append(
                Finding(
                    CHECK,
                    Severity.WARNING,
                    subject,
                    f"a scrape took {duration:.2f} s{what}, {duration / timeout:.0%} of its "
                    f"{timeout:g} s scrape_timeout: it will time out under load",
                    "raise scrape_timeout (up to the scrape_interval) or cut series (see Cardinality)",
                )
            )
        if builds and instance not in builds:
            findings.append(
                Finding(
                    CHECK,
                    Severity.WARNING,
                    subject,
                    f"up, but exposes no {BUILD_INFO.name} while the job's other instances do: "
                    "another exporter in this job, or an instance without the instrumentation",
                    "scrape other exporters in their own job; instrument this instance",
                )
            )
    return findings


def _versions(job: str, builds: dict[str, dict[str, str]]) -> list[Finding]:
    by_version: dict[str, list[str]] = defaultdict(list)
    for instance, labels in builds.items():
        by_version[labels.get("service_version", "?")].append(instance)
    if len(by_version) < 2:
        return []
    listing = "; ".join(f"{v} on {', '.join(sorted(i))}" for v, i in sorted(by_version.items()))
    return [
        Finding(
            CHECK,
            Severity.WARNING,
            f"job {job}",
            f"instances run different versions ({listing}): panels and alerts mix them",
            "finish the rollout, or stop the instances left on the old version",
        )
    ]


def _older(job: str, builds: dict[str, dict[str, str]], startup: dict[str, set[str]]) -> list[Finding]:
    findings = []
    expected_labels = set(BUILD_INFO.labels)
    for instance, labels in sorted(builds.items()):
        missing = sorted(set(STARTUP_SERIES) - startup.get(instance, set()))
        missing_labels = sorted(expected_labels - set(labels))
        if not missing and not missing_labels:
            continue
        what = []
        if missing:
            shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
            what.append(f"not {shown}")
        if missing_labels:
            what.append(f"{BUILD_INFO.name} without {', '.join(missing_labels)}")
        version = labels.get("service_version", "?")
        findings.append(
            Finding(
                CHECK,
                Severity.WARNING,
                f"job {job}, instance {instance}",
                f"older instrumentation (service version {version}): it exposes {BUILD_INFO.name} but "
                f"{'; '.join(what)}, which the current fleetobs exposes from start-up",
                "upgrade django-fleet-observability on this service and redeploy",
            )
        )
    return findings
