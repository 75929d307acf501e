"""Fleet overview: is every service healthy, and which one needs a look?

Rows answer, in order: *Which services are failing their objectives?* (a table per service
with traffic, errors, latency, SLO compliance, budget left, instances and saturation, each
service linking to its drill-down), *How much traffic, how many errors, how slow?* (rate,
error ratio and p50/p95/p99 per service), *Are we meeting the SLOs?* (availability and latency
compliance over the dashboard's range against ``$slo_availability`` and
``$slo_latency_threshold``, and the error budget left), and *Is anything running out?*
(instances reporting against the peak seen, and the worst saturation per service).
"""

from __future__ import annotations

from grafanalib import core as gl

from dashboards import queries as q
from dashboards import uids, variables
from dashboards.board import dashboard
from dashboards.panels import (
    BUDGET,
    COMPLIANCE,
    COUNT,
    ERROR_RATIO,
    LATENCY,
    RATIO,
    REQUESTS_PER_SECOND,
    SATURATION,
    SECONDS,
    Column,
    LabelLink,
    Query,
    Section,
    link,
    stat,
    table,
    timeseries,
)
from dashboards.saturation import worst_saturation
from instrumentation.catalog import metric

UID = uids.OVERVIEW
TITLE = "Fleet overview"

HTTP = metric("http_server_request_duration_seconds")
INVENTORY = metric("fleetobs_build_info")
SERVER_ERRORS = {"http_response_status_code": ("=~", "5..")}
BY_JOB = ("job",)
TO_SERVICE = link("Open the service dashboard", uids.SERVICE, job="${__field.labels.job}")


def error_ratio_range(by: tuple[str, ...] = BY_JOB) -> str:
    """Share of 5xx responses over the dashboard's range (0 when there were none)."""
    total = q.increase(HTTP, "count", by=by)
    return q.ratio(q.or_zero(q.increase(HTTP, "count", SERVER_ERRORS, by), total), total)


def availability() -> str:
    return q.one_minus(error_ratio_range())


def availability_budget_left() -> str:
    """Share of the availability error budget (1 - objective) not yet spent in the range."""
    return q.one_minus(f"({error_ratio_range()}) / (1 - $slo_availability)")


def latency_compliance() -> str:
    """Share of requests faster than ``$slo_latency_threshold`` over the range."""
    fast = q.increase(HTTP, "bucket", {"le": "$slo_latency_threshold"}, BY_JOB)
    return q.ratio(fast, q.increase(HTTP, "count", by=BY_JOB))


def latency_budget_left() -> str:
    return q.one_minus(f"(1 - ({latency_compliance()})) / (1 - $slo_latency_objective)")


def instances_reporting() -> str:
    """Instances exposing metrics now (one per instance even across a version change)."""
    return f"count by (job) ({q.gauge(INVENTORY, 'count', by=('job', 'instance'))})"


def instances_expected() -> str:
    """The most instances seen at once during the range: what the fleet is sized for."""
    return f"max by (job) (max_over_time(({instances_reporting()})[$__range:]))"


def build() -> gl.Dashboard:
    rate = q.rate(HTTP, "count", by=BY_JOB)
    error_ratio = q.ratio(q.or_zero(q.rate(HTTP, "count", SERVER_ERRORS, BY_JOB), rate), rate)
    summary = table(
        "Services",
        "One row per service over the dashboard's time range: request rate, share of 5xx responses, "
        "95th percentile latency, availability and latency compliance with the objectives, error budget "
        "left, instances reporting now and the worst saturation now. Click a service to drill down.",
        ["job"],
        [
            Column("Requests/s", q.range_rate(HTTP, "count", by=BY_JOB), REQUESTS_PER_SECOND),
            Column("Errors", error_ratio_range(), RATIO, ERROR_RATIO),
            Column("p95", q.quantile(0.95, HTTP, by=BY_JOB, over_range=True), SECONDS, LATENCY),
            Column("Availability", availability(), RATIO, COMPLIANCE),
            Column("Faster than objective", latency_compliance(), RATIO, COMPLIANCE),
            Column("Budget left", availability_budget_left(), RATIO, BUDGET),
            Column("Instances", instances_reporting(), COUNT),
            Column("Worst saturation", worst_saturation(BY_JOB), RATIO, SATURATION),
        ],
        h=8,
        sort_by="Errors",
        label_links=[
            LabelLink("job", (link("Open the service dashboard", uids.SERVICE, job="${__value.raw}"),))
        ],
    )
    golden = [
        timeseries(
            "Request rate by service",
            "Requests per second each service answers, all routes and status codes.",
            [Query(rate, "{{job}}")],
            REQUESTS_PER_SECOND,
            w=8,
            links=[TO_SERVICE],
        ),
        timeseries(
            "Error ratio by service",
            "Share of requests answered with a 5xx status code. Client errors (4xx) are not counted.",
            [Query(error_ratio, "{{job}}")],
            RATIO,
            w=8,
            steps=ERROR_RATIO,
            links=[TO_SERVICE],
        ),
        timeseries(
            "Latency p50 / p95 / p99 by service",
            "Request duration percentiles per service, from the duration histogram. Dots are exemplars: "
            "click one to open that request's trace in Tempo.",
            [
                Query(q.quantile(p, HTTP, by=BY_JOB), f"{{{{job}}}} p{round(p * 100)}", exemplar=True)
                for p in (0.5, 0.95, 0.99)
            ],
            SECONDS,
            w=8,
            steps=LATENCY,
            links=[TO_SERVICE],
        ),
    ]
    slo = [
        stat(
            "Availability",
            "Share of requests not answered with a 5xx over the dashboard's range, per service. Compare with "
            "the objective in $slo_availability.",
            [Query(availability(), "{{job}}", instant=True)],
            RATIO,
            steps=COMPLIANCE,
            decimals=3,
            links=[TO_SERVICE],
        ),
        stat(
            "Availability error budget left",
            "Share of the error budget (1 - $slo_availability) not yet spent over the dashboard's range. "
            "Below zero the objective is missed for this range.",
            [Query(availability_budget_left(), "{{job}}", instant=True)],
            RATIO,
            steps=BUDGET,
            decimals=1,
            links=[TO_SERVICE],
        ),
        stat(
            "Faster than the latency objective",
            "Share of requests that took less than $slo_latency_threshold seconds over the "
            "dashboard's range.",
            [Query(latency_compliance(), "{{job}}", instant=True)],
            RATIO,
            steps=COMPLIANCE,
            decimals=3,
            links=[TO_SERVICE],
        ),
        stat(
            "Latency error budget left",
            "Share of the latency budget (1 - $slo_latency_objective of requests may be slower than "
            "$slo_latency_threshold s) not yet spent over the dashboard's range.",
            [Query(latency_budget_left(), "{{job}}", instant=True)],
            RATIO,
            steps=BUDGET,
            decimals=1,
            links=[TO_SERVICE],
        ),
    ]
    capacity = [
        timeseries(
            "Instances reporting vs expected",
            "Instances of each service exposing metrics, against the most seen at once during the range. "
            "A gap means instances are down or being replaced.",
            [
                Query(instances_reporting(), "{{job}} reporting"),
                Query(instances_expected(), "{{job}} expected"),
            ],
            COUNT,
            links=[TO_SERVICE],
        ),
        timeseries(
            "Worst saturation by service",
            "For each service, the most saturated resource of its most saturated instance: the largest of "
            "worker busy ratio, CPU against its limit, memory against its limit and file descriptors "
            "against their limit. See the resources dashboard for which one.",
            [Query(worst_saturation(BY_JOB), "{{job}}")],
            RATIO,
            steps=SATURATION,
            links=[link("Open the resources dashboard", uids.RESOURCES, job="${__field.labels.job}")],
        ),
    ]
    return dashboard(
        UID,
        TITLE,
        "Every service of the fleet at a glance: traffic, errors, latency, SLOs and saturation.",
        [
            Section("Which services need attention?", [summary]),
            Section("Traffic, errors and latency", golden),
            Section("Objectives over the selected range", slo),
            Section("Capacity", capacity),
        ],
        extra_variables=variables.slo(),
    )
