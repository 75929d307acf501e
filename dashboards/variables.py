"""Template variables shared by every dashboard.

Each dashboard gets the same four: ``datasource`` (type datasource, Prometheus), then
``environment``, ``job`` (the service) and ``instance``, each narrowing the next and read
from ``fleetobs_build_info``, which every instrumented instance exposes from start-up whether
it has served traffic or not. They are multi-select and reload when the time range changes, as
the dashboard-linter rules require; queries match them with ``=~``. ``All`` is ``.+`` for
``job`` and ``instance``, which every scraped series has, and ``.*`` for ``environment``, which
only a scrape config that adds the target label gives: on a Prometheus without it the variable
lists no value, Grafana selects *All*, and ``environment=~".*"`` matches every series. SLO
panels add fixed-choice variables for the objectives.
"""

from __future__ import annotations

from collections.abc import Sequence

from grafanalib import core as gl

from dashboards import queries
from dashboards.panels import PROMETHEUS_DS
from instrumentation.catalog import metric

#: The metric whose labels list the fleet (present on every instance from start-up).
INVENTORY = metric("fleetobs_build_info")
#: Availability objectives offered by ``$slo_availability``.
AVAILABILITY_OBJECTIVES = ("0.99", "0.995", "0.999", "0.9995", "0.9999")
DEFAULT_AVAILABILITY = "0.999"
DEFAULT_LATENCY_THRESHOLD = "0.5"
#: Share of requests that must be faster than ``$slo_latency_threshold``.
LATENCY_OBJECTIVES = ("0.9", "0.95", "0.99", "0.995", "0.999")
DEFAULT_LATENCY_OBJECTIVE = "0.99"


def _label_values(label: str, scope: Sequence[str]) -> str:
    matchers = {name: ("=~", f"${name}") for name in scope}
    sel = queries.selector(INVENTORY, matchers=matchers, scoped=False)
    if not scope:
        sel = INVENTORY.name
    return f"label_values({sel}, {label})"


def datasource() -> gl.Template:
    """The Prometheus datasource picker; defaults to the provisioned one."""
    return gl.Template(
        name="datasource",
        label="Data source",
        query="prometheus",
        type="datasource",
        default="prometheus",
        refresh=gl.REFRESH_ON_DASHBOARD_LOAD,
    )


def multi_select(
    name: str, label: str, query: str, data_source: dict[str, str], *, all_value: str = ".+"
) -> gl.Template:
    """A query variable in the house style: multi-select, ``All`` as the regex ``all_value``
    (queries match it with ``=~``; ``.+`` unless the label may be absent), reloaded when the time
    range changes, sorted."""
    return gl.Template(
        name=name,
        label=label,
        query=query,
        dataSource=data_source,
        includeAll=True,
        multi=True,
        allValue=all_value,
        default="$__all",
        refresh=gl.REFRESH_ON_TIME_RANGE_CHANGE,
        sort=gl.SORT_ALPHA_ASC,
    )


def _query_variable(name: str, label: str, scope: Sequence[str]) -> gl.Template:
    return multi_select(
        name, label, _label_values(name, scope), PROMETHEUS_DS, all_value=queries.ALL_VALUES[name]
    )


def scope(*, instance: bool = True) -> list[gl.Template]:
    """``datasource``, ``environment``, ``job`` and ``instance``, in dependency order.

    ``instance=False`` leaves out ``$instance``, for dashboards with no Prometheus panel
    (their own variables narrow further, e.g. the Logs dashboard's ``$host``).
    """
    found = [
        datasource(),
        _query_variable("environment", "Environment", ()),
        _query_variable("job", "Job", ("environment",)),
    ]
    if instance:
        found.append(_query_variable("instance", "Instance", ("environment", "job")))
    return found


def _custom(name: str, label: str, values: Sequence[str], default: str) -> gl.Template:
    if default not in values:
        raise ValueError(f"default {default!r} of ${name} is not one of {list(values)}")
    return gl.Template(name=name, label=label, query=",".join(values), type="custom", default=default)


def latency_thresholds() -> tuple[str, ...]:
    """Bucket boundaries of the HTTP duration histogram, spelled as the exposition spells ``le``."""
    return tuple(repr(float(b)) for b in metric("http_server_request_duration_seconds").buckets)


def slo() -> list[gl.Template]:
    """The SLO variables: availability, latency threshold (an ``le`` boundary) and latency objective.

    Fixed choices rather than free text, so an expanded query is always valid PromQL.
    """
    return [
        _custom("slo_availability", "Availability objective", AVAILABILITY_OBJECTIVES, DEFAULT_AVAILABILITY),
        _custom(
            "slo_latency_threshold", "Latency threshold (s)", latency_thresholds(), DEFAULT_LATENCY_THRESHOLD
        ),
        _custom("slo_latency_objective", "Latency objective", LATENCY_OBJECTIVES, DEFAULT_LATENCY_OBJECTIVE),
    ]


def label_variable(name: str, label: str, metric_name: str, catalog_label: str) -> gl.Template:
    """A multi-select over the values of a catalogue label (e.g. ``http_route``) in scope."""
    m = metric(metric_name)
    if catalog_label not in m.labels:
        raise ValueError(f"{catalog_label!r} is not a label of {metric_name!r}")
    sel = queries.selector(m, "count" if m.type == "histogram" else "")
    return multi_select(name, label, f"label_values({sel}, {catalog_label})", PROMETHEUS_DS)
