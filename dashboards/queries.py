"""PromQL built only from the signal catalogue.

Every expression in every dashboard goes through these helpers. Each takes a catalogue
:class:`~instrumentation.catalog.Metric` (never a bare name), picks the exposition series for
it (``_total`` for counters, ``_bucket``/``_count``/``_sum`` for histograms) and raises
``ValueError`` when asked to match or group by a label the metric does not declare. Besides
the catalogue labels, a query may use the target labels: ``job`` (the service name) and
``instance``, which Prometheus sets on every scraped series whatever its scrape config, and
``environment``, which exists only where the scrape config adds it as a target label; histogram
buckets also carry ``le``.

Every selector is scoped to the dashboard's ``$job``, ``$instance`` and ``$environment``
variables with regex matchers, so each variable's ``All`` value is a regex: ``.+`` for the
labels Prometheus always sets, ``.*`` for the optional ones (a matcher that matches the empty
string also matches a series without the label, so *All* keeps working on a Prometheus that
adds no ``environment``). Range vectors inside
``rate()`` use ``$__rate_interval``, and whole-range figures use ``increase(...[$__range])``,
which is what the dashboard-linter rules ask for. Panels query raw catalogue metrics, never
recording rules, so a dashboard depends on nothing but the instrumented service.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from instrumentation.catalog import METRICS, Metric

#: Target labels Prometheus sets on every scraped series, whatever the scrape config.
GUARANTEED_LABELS = ("job", "instance")
#: Target labels present only where the scrape config adds them (our compose and Kubernetes do).
OPTIONAL_TARGET_LABELS = ("environment",)
#: Target labels a query may use besides the catalogue's.
STANDARD_LABELS = (*GUARANTEED_LABELS, *OPTIONAL_TARGET_LABELS)
#: The ``All`` value of a scope variable: any value of a label that is always there; any value or
#: none at all for an optional one.
ALL_VALUES = {**dict.fromkeys(GUARANTEED_LABELS, ".+"), **dict.fromkeys(OPTIONAL_TARGET_LABELS, ".*")}
#: Variables every selector is scoped to, in this order.
SCOPE = {"job": "$job", "instance": "$instance", "environment": "$environment"}
RATE_INTERVAL = "$__rate_interval"
RANGE = "$__range"
RANGE_SECONDS = "$__range_s"
MATCH_OPS = ("=", "!=", "=~", "!~")
_CATALOG_LABELS = frozenset(label for m in METRICS for label in m.labels)

#: A matcher value: ``"GET"`` means ``="GET"``; ``("=~", "5..")`` picks the operator.
MatcherValue = str | tuple[str, str]
Matchers = Mapping[str, MatcherValue]


def allowed_labels(metric: Metric, series: str = "") -> frozenset[str]:
    """The labels a query may use on ``metric``'s ``series`` (a suffix such as ``bucket``)."""
    labels = set(metric.labels) | set(STANDARD_LABELS)
    if metric.type == "histogram" and series == "bucket":
        labels.add("le")
    return frozenset(labels)


def _check_labels(metric: Metric, series: str, labels: Iterable[str]) -> None:
    allowed = allowed_labels(metric, series)
    unknown = sorted(set(labels) - allowed)
    if unknown:
        raise ValueError(
            f"label(s) {unknown} are not declared for {metric.name!r} in the catalogue "
            f"(allowed: {sorted(allowed)})"
        )


def series_name(metric: Metric, series: str = "") -> str:
    """The exposition name of ``metric``: counters get ``_total``, histograms need a suffix."""
    if metric.type == "counter":
        if series not in ("", "total"):
            raise ValueError(f"counter {metric.name!r} has no {series!r} series")
        return f"{metric.name}_total"
    if metric.type == "histogram":
        if series not in ("bucket", "count", "sum"):
            raise ValueError(f"histogram {metric.name!r} needs series bucket, count or sum, not {series!r}")
        return f"{metric.name}_{series}"
    if series:
        raise ValueError(f"gauge {metric.name!r} has no {series!r} series")
    return metric.name


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def selector(
    metric: Metric,
    series: str = "",
    matchers: Matchers | None = None,
    *,
    scoped: bool = True,
    raw: str = "",
) -> str:
    """A vector selector such as ``name{job=~"$job",...,label="value"}``.

    ``scoped=False`` drops the dashboard variables (for datasource provisioning, where Grafana
    supplies its own matchers through ``raw``, e.g. ``$__tags``).
    """
    matchers = dict(matchers or {})
    _check_labels(metric, series, matchers)
    name = series_name(metric, series)
    parts: list[str] = []
    if scoped:
        parts.extend(f"{label}=~{_quote(var)}" for label, var in SCOPE.items() if label not in matchers)
    for label in sorted(matchers):
        value = matchers[label]
        op, text = ("=", value) if isinstance(value, str) else value
        if op not in MATCH_OPS:
            raise ValueError(f"unknown matcher operator {op!r} for label {label!r}")
        parts.append(f"{label}{op}{_quote(text)}")
    if raw:
        parts.append(raw)
    return f"{name}{{{', '.join(parts)}}}"


def _by(labels: Sequence[str]) -> str:
    return f" by ({', '.join(labels)})" if labels else ""


def rate(
    metric: Metric,
    series: str = "",
    matchers: Matchers | None = None,
    by: Sequence[str] = (),
    *,
    offset: str = "",
) -> str:
    """``sum by (...) (rate(series{...}[$__rate_interval]))``: per-second rate, summed."""
    if metric.type == "gauge":
        raise ValueError(f"rate() of gauge {metric.name!r} is meaningless")
    _check_labels(metric, series, by)
    shift = f" offset {offset}" if offset else ""
    return f"sum{_by(by)} (rate({selector(metric, series, matchers)}[{RATE_INTERVAL}]{shift}))"


def increase(
    metric: Metric, series: str = "", matchers: Matchers | None = None, by: Sequence[str] = ()
) -> str:
    """``sum by (...) (increase(series{...}[$__range]))``: events over the dashboard's range."""
    if metric.type == "gauge":
        raise ValueError(f"increase() of gauge {metric.name!r} is meaningless")
    _check_labels(metric, series, by)
    return f"sum{_by(by)} (increase({selector(metric, series, matchers)}[{RANGE}]))"


def range_rate(
    metric: Metric, series: str = "", matchers: Matchers | None = None, by: Sequence[str] = ()
) -> str:
    """Average per-second rate over the whole dashboard range (for tables and stats)."""
    return f"{increase(metric, series, matchers, by)} / {RANGE_SECONDS}"


def quantile(
    q: float,
    metric: Metric,
    matchers: Matchers | None = None,
    by: Sequence[str] = (),
    *,
    over_range: bool = False,
) -> str:
    """``histogram_quantile(q, sum by (le, ...) (rate(bucket[$__rate_interval])))``."""
    if metric.type != "histogram":
        raise ValueError(f"{metric.name!r} is a {metric.type}, not a histogram")
    if not 0 < q < 1:
        raise ValueError(f"quantile must be between 0 and 1, got {q!r}")
    inner = (increase if over_range else rate)(metric, "bucket", matchers, ("le", *by))
    return f"histogram_quantile({q:g}, {inner})"


def gauge(metric: Metric, agg: str = "sum", matchers: Matchers | None = None, by: Sequence[str] = ()) -> str:
    """``agg by (...) (gauge{...})`` for a gauge."""
    if metric.type != "gauge":
        raise ValueError(f"{metric.name!r} is a {metric.type}, not a gauge")
    if agg not in ("sum", "max", "min", "avg", "count"):
        raise ValueError(f"unsupported aggregation {agg!r}")
    _check_labels(metric, "", by)
    return f"{agg}{_by(by)} ({selector(metric, '', matchers)})"


def ratio(numerator: str, denominator: str) -> str:
    """``(numerator) / (denominator)``; label sets must match on both sides."""
    return f"({numerator}) / ({denominator})"


def or_zero(expr: str, like: str) -> str:
    """``expr``, or 0 for every series of ``like`` that ``expr`` lacks.

    Error counts have no series until the first error; ``errors or (total * 0)`` keeps an error
    ratio at 0 instead of showing "No data" for a healthy service.
    """
    return f"({expr}) or (({like}) * 0)"


def tag(expr: str, label: str, value: str) -> str:
    """``expr`` with a constant extra label (``label_replace``), to tell apart vectors combined by ``or``.

    The label exists only inside the query; aggregate it away or show it in the legend.
    """
    if label in STANDARD_LABELS or label in _CATALOG_LABELS or not label.isidentifier():
        raise ValueError(f"cannot tag with label {label!r}: it must not shadow a real label")
    return f'label_replace({expr}, "{label}", "{value}", "", "")'


def one_minus(expr: str) -> str:
    """``1 - (expr)``."""
    return f"1 - ({expr})"
