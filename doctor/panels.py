"""Dashboards: every Prometheus query of every generated dashboard, run as Grafana would run it.

For each job in scope, each target of each panel is expanded (:mod:`doctor.expand`) with ``$job``
set to that job and every other query variable at *All*, then evaluated over the report's time
range: an instant query for ``instant`` targets, a range query with Grafana's step otherwise. A
query Prometheus refuses is an error; one that returns nothing is explained by
:mod:`doctor.explain` and reported once per panel with its title, the worst explanation first.
Queries run on a small thread pool: the whole set for the demo fleet takes a few seconds.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from doctor import explain
from doctor.expand import Expander, Json, TimeRange, prometheus_targets
from doctor.findings import Finding, Severity
from doctor.prometheus import Prometheus, QueryError

CHECK = "Dashboards"
WORKERS = 8
#: Points per range query: enough to see any data in the range.
STEPS = 240
_LABEL_VALUES = re.compile(r"label_values\((.*),\s*(\w+)\)\s*$")


@dataclass(frozen=True)
class _Query:
    job: str
    dashboard: str
    panel: str
    ref: str
    expr: str
    instant: bool


def generated_dashboards() -> dict[str, Json]:
    from dashboards import generate

    return generate.dashboards()


def _all_values(prometheus: Prometheus, start: float, end: float) -> Any:
    def resolve(var: Json, known: Mapping[str, str]) -> list[str]:
        match = _LABEL_VALUES.match(str(var.get("query", "")))
        if not match:
            return []
        selector = re.sub(r"\$(\w+)", lambda m: known.get(m.group(1), ".*"), match.group(1))
        return prometheus.label_values(match.group(2), [selector], start, end)

    return resolve


def queries(
    dashboards: Mapping[str, Json], jobs: Sequence[str], time_range: TimeRange, resolve: Any = None
) -> list[_Query]:
    found = []
    for job in jobs:
        for dashboard in dashboards.values():
            expander = Expander(dashboard, time_range, {"job": [job]}, resolve)
            values = expander.values()
            for panel, target in prometheus_targets(dashboard):
                found.append(
                    _Query(
                        job,
                        str(dashboard.get("title")),
                        str(panel.get("title")),
                        str(target.get("refId", "")),
                        expander.expand(str(target["expr"]), values),
                        bool(target.get("instant")),
                    )
                )
    return found


def check(
    prometheus: Prometheus,
    jobs: Sequence[str],
    time_range: TimeRange,
    now: float,
    dashboards: Mapping[str, Json] | None = None,
) -> tuple[list[Finding], dict[str, Any]]:
    """Findings for empty or refused panel queries, and facts (how many queries ran)."""
    dashboards = dashboards if dashboards is not None else generated_dashboards()
    start = now - time_range.seconds
    # Grafana's step is $__interval; a coarser one answers "any data?" as well, at a fraction of the cost.
    step = max(time_range.interval, time_range.seconds / STEPS)
    todo = queries(dashboards, jobs, time_range, _all_values(prometheus, start, now))
    scopes = {job: explain.Scope(prometheus, start, now, [job]) for job in jobs}

    def run(query: _Query) -> explain.Explanation | None:
        if "$" in query.expr:
            unknown = sorted(set(re.findall(r"\$\{?(\w+)", query.expr)))
            return explain.Explanation("broken", Severity.ERROR, f"unknown variable(s) {unknown}")
        try:
            if explain.evaluate(
                prometheus, query.expr, instant=query.instant, start=start, end=now, step=step
            ):
                return None
        except QueryError as exc:
            return explain.Explanation("broken", Severity.ERROR, f"Prometheus refused the query: {exc}")
        return explain.explain_empty(query.expr, scopes[query.job])

    with ThreadPoolExecutor(WORKERS) as pool:
        results = list(pool.map(run, todo))
    worst: dict[tuple[str, str, str], tuple[_Query, explain.Explanation]] = {}
    for query, found in zip(todo, results, strict=True):
        if found is None:
            continue
        key = (query.job, query.dashboard, query.panel)
        if key not in worst or found.severity.rank < worst[key][1].severity.rank:
            worst[key] = (query, found)
    findings = []
    for (job, dashboard, panel), (query, found) in sorted(worst.items()):
        subject = f"{dashboard} / {panel}" + (f" (job {job})" if len(jobs) > 1 else "")
        message = f"empty ({found.kind}): {found.message}"
        detail = f"query {query.ref}: {_short(query.expr)}"
        findings.append(Finding(CHECK, found.severity, subject, message, found.fix, detail=detail))
    empty = sum(1 for r in results if r is not None)
    facts = {"dashboard queries": f"{len(todo)} run, {empty} empty or refused"}
    return findings, facts


def _short(expr: str, limit: int = 160) -> str:
    flat = " ".join(expr.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
