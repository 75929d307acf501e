"""Cardinality: series per job and per metric against a budget derived from the catalogue.

Every catalogue label has a bound on its number of values per job (:data:`LABEL_LIMITS`): methods
are the known HTTP methods plus ``_OTHER``, ``le`` the histogram's buckets plus ``+Inf``, routes
are URL patterns (``--max-routes``, default 200). A label above its bound is reported with sample
values: raw URL paths in ``http_route`` are the classic explosion. Each metric's series are also
compared with a budget per instance, the product of the typical values of its labels
(:data:`TYPICAL`, for HTTP ``routes x methods x statuses x buckets``) times the job's instances.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor

from doctor.findings import Finding, Severity
from doctor.prometheus import Prometheus
from doctor.targets import Fleet
from instrumentation.catalog import HTTP_METHODS, METRICS, Metric

CHECK = "Cardinality"
DEFAULT_MAX_ROUTES = 200
#: Most values a label may have per job (``http_route`` comes from ``--max-routes``).
LABEL_LIMITS: dict[str, int] = {
    "http_request_method": len(HTTP_METHODS) + 1,
    "http_response_status_code": 40,
    "error_type": 100,
    "db_alias": 10,
    "db_system": 5,
    "db_operation_name": 40,
    "cache_alias": 10,
    "cache_operation": 20,
    "cache_result": 4,
    "generation": 3,
    "service_name": 2,
    "service_version": 5,
    "django_version": 5,
    "python_version": 5,
    "task_name": 300,
    "task_state": 3,
    "signal": 2,
    "reason": 4,
    "where": 100,
}
#: Values a label typically takes per instance, for the per-metric series budget.
TYPICAL: dict[str, int] = {
    "http_request_method": 3,
    "http_response_status_code": 6,
    "error_type": 20,
    "db_alias": 2,
    "db_system": 1,
    "db_operation_name": 10,
    "cache_alias": 2,
    "cache_operation": 8,
    "cache_result": 4,
    "generation": 3,
    "service_name": 1,
    "service_version": 1,
    "django_version": 1,
    "python_version": 1,
    "task_name": 100,
    "task_state": 3,
    "signal": 2,
    "reason": 4,
    "where": 20,
}
EXAMPLES = 5


def budget(m: Metric, series: str, max_routes: int) -> int:
    """Series one instance may have for ``series`` of ``m``."""
    total = math.prod(max_routes if label == "http_route" else TYPICAL.get(label, 10) for label in m.labels)
    if series.endswith("_bucket"):
        total *= len(m.buckets) + 1
    return total


def check(
    prometheus: Prometheus, fleet: Fleet, max_routes: int = DEFAULT_MAX_ROUTES
) -> tuple[list[Finding], dict[str, str]]:
    if not fleet.jobs:
        return [], {}
    regex = "|".join(re.escape(j) for j in fleet.jobs).replace("\\", "\\\\")
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    for found in prometheus.query(f'count by (job, __name__) ({{job=~"{regex}"}})'):
        labels = found["metric"]
        counts[labels.get("job", "")][labels.get("__name__", "")] = int(float(found["value"][1]))
    findings: list[Finding] = []
    facts = {}
    for job in (j for j in fleet.jobs if fleet.builds.get(j)):
        per_name = counts.get(job, {})
        instances = max(1, len(fleet.builds.get(job, {})))
        facts[f"series of job {job}"] = f"{sum(per_name.values())} on {instances} instance(s)"
        for m in METRICS:
            for series in m.series:
                have = per_name.get(series, 0)
                allowed = budget(m, series, max_routes) * instances
                if have > allowed:
                    findings.append(
                        Finding(
                            CHECK,
                            Severity.WARNING,
                            f"job {job}, {series}",
                            f"{have} series, over the budget of {allowed} ({instances} instance(s) x "
                            f"{allowed // instances} per instance from the catalogue)",
                            "see the label findings below for the values that blow it",
                        )
                    )
        findings.extend(_labels(prometheus, job, per_name, max_routes))
    return findings, facts


def _labels(prometheus: Prometheus, job: str, per_name: dict[str, int], max_routes: int) -> list[Finding]:
    by_label: dict[str, list[str]] = defaultdict(list)
    for m in METRICS:
        for series in m.series:
            if series in per_name:
                for label in m.labels:
                    by_label[label].append(series)
    limits = {**LABEL_LIMITS, "http_route": max_routes}
    job_q = job.replace("\\", "\\\\").replace('"', '\\"')

    def distinct(item: tuple[str, list[str]]) -> int:
        label, names = item
        selector = f'{{job="{job_q}", __name__=~"{"|".join(names)}"}}'
        result = prometheus.query(f"count(count by ({label}) ({selector}))")
        return int(float(result[0]["value"][1])) if result else 0

    items = sorted(by_label.items())
    with ThreadPoolExecutor(8) as pool:
        numbers = list(pool.map(distinct, items))
    findings = []
    for (label, names), number in zip(items, numbers, strict=True):
        limit = limits.get(label, 50)
        if number <= limit:
            continue
        selector = f'{{job="{job_q}", __name__=~"{"|".join(names)}"}}'
        examples = prometheus.label_values(label, [selector])[:EXAMPLES]
        hint = (
            ": raw URL paths instead of URL patterns? Routes must come from the resolver's route "
            "(a custom metric or middleware writing request.path does this)"
            if label == "http_route"
            else ""
        )
        findings.append(
            Finding(
                CHECK,
                Severity.WARNING,
                f"job {job}, label {label}",
                f"{number} values, over the limit of {limit} (e.g. {', '.join(examples)}){hint}",
                "bound the label's values at the source"
                + (
                    "; if the service really has that many routes, run with --max-routes"
                    if label == "http_route"
                    else ""
                ),
            )
        )
    return findings


__all__ = ["DEFAULT_MAX_ROUTES", "LABEL_LIMITS", "TYPICAL", "budget", "check"]
