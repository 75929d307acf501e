"""Why a query returns nothing: the classification shared by the Dashboards and Rules checks.

An expression that returns no data is taken apart into its selectors (:mod:`doctor.promql`) and
each is asked of Prometheus over the same time range, in this order, the first explanation
winning (the approach of pint's ``promql/series`` check, applied to expanded dashboard queries)::

    not emitted     the metric has no series at all for the jobs in scope
                    (info when it appears only once its feature is used: a labelled metric or a
                    database/cache/task/pipeline one; warning for a metric every instance has from
                    start-up, which points at an older instrumentation; error for a name the
                    catalogue does not know)
    label missing   the metric exists, but no series carries a label a matcher needs   (warning)
    no traffic      the label exists, but no series has the wanted value in the range  (info)
    filtered        every selector has data and a comparison filters all of it out     (info)
    no history      an ``offset`` looks further back than the data goes               (info)
    broken          every selector has data and the expression still returns nothing  (error)

Queries Prometheus refuses are *broken* with Prometheus's message.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

from doctor import promql
from doctor.findings import Severity
from doctor.prometheus import Prometheus, QueryError
from instrumentation.catalog import METRICS, Metric

#: Catalogue groups whose metrics exist only where the feature is in use.
FEATURES = {
    "db": "database metrics appear once the service runs a query",
    "cache": "cache metrics appear once the service uses Django's cache",
    "tasks": "task metrics appear once Celery tasks are published or run",
    "pipeline": "pipeline metrics appear once spans or logs are exported (or dropped)",
    "http": "HTTP metrics appear once the service has served a request",
    "runtime": "runtime metrics are sampled from start-up",
}
_EVENT_WORDS = ("error", "exception", "dropped", "failure", "n_plus_one")
_SERIES = {series: m for m in METRICS for series in m.series}


def catalogue_metric(series: str) -> Metric | None:
    """The catalogue metric an exposition series belongs to (``x_total`` -> ``x``)."""
    return _SERIES.get(series)


@dataclass(frozen=True)
class Explanation:
    kind: str
    severity: Severity
    message: str
    fix: str = ""


@dataclass
class Scope:
    """The Prometheus, time window and jobs a set of queries is explained in; caches lookups."""

    prometheus: Prometheus
    start: float
    end: float
    jobs: Sequence[str]
    #: Recording rules Prometheus has loaded (an input record without series is explained by its own finding).
    records: frozenset[str] = frozenset()
    _names: dict[str, frozenset[str]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def window(self) -> str:
        return f"{int(self.end - self.start)}s"

    @property
    def span(self) -> str:
        """The window for people: ``1h``, ``15m``, ``90s``."""
        return human_duration(self.end - self.start)

    @property
    def job_matcher(self) -> str:
        return promql.Matcher("job", "=~", "|".join(re.escape(j) for j in self.jobs) or ".+").text()

    def names(self, scoped: bool) -> frozenset[str]:
        key = "scoped" if scoped else "all"
        with self._lock:
            if key not in self._names:
                match = [f"{{{self.job_matcher}}}"] if scoped else []
                values = self.prometheus.label_values("__name__", match, self.start, self.end)
                self._names[key] = frozenset(values)
            return self._names[key]

    def has_data(self, selector: str, offset: str = "") -> bool:
        shift = f" offset {offset}" if offset else ""
        expr = f"count(last_over_time({selector}[{self.window}]{shift}))"
        return bool(self.prometheus.query(expr, self.end))

    def has_label(self, name: str, label: str) -> bool:
        match = [f"{name}{{{self.job_matcher}}}"]
        return label in self.prometheus.label_names(match, self.start, self.end)


def human_duration(seconds: float) -> str:
    seconds = int(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _not_emitted(sel: promql.Selector, scope: Scope) -> Explanation | None:
    name = sel.name
    if not name or name in scope.names(scoped=True):
        return None
    where = f"job {'|'.join(scope.jobs)}" if scope.jobs else "any job"
    if name in scope.records:
        return Explanation(
            "no traffic", Severity.INFO, f"it reads {name}, which has no series yet (see that record)"
        )
    if ":" in name:
        return Explanation(
            "not emitted",
            Severity.WARNING,
            f"recording rule {name} has no series",
            "load the generated rule files (see the Rules findings)",
        )
    metric = catalogue_metric(name)
    elsewhere = name in scope.names(scoped=False)
    also = " (other jobs have it)" if elsewhere else ""
    if metric is None:
        if name in ("up", "scrape_duration_seconds", "scrape_samples_scraped") or name.startswith("ALERTS"):
            return None
        return Explanation(
            "broken", Severity.ERROR, f"{name} is not a metric the instrumentation emits", "regenerate"
        )
    if metric.group != "runtime":
        if any(word in name for word in _EVENT_WORDS):
            first = metric.help.split(",")[0].split(" (")[0].rstrip(".").lower()
            why = f"it appears with the first event it counts ({first})"
        else:
            why = FEATURES.get(metric.group, "its feature is not in use")
        return Explanation("not emitted", Severity.INFO, f"{name} was never emitted by {where}{also}: {why}")
    return Explanation(
        "not emitted",
        Severity.WARNING,
        f"{name} is missing from {where}{also}, though every instrumented instance exposes it from "
        "start-up: an older fleetobs instrumentation, or metrics disabled",
        "upgrade django-fleet-observability on that service",
    )


def _narrowed_out(sel: promql.Selector, scope: Scope) -> Explanation | None:
    """The metric exists; find the matcher that leaves nothing."""
    if scope.has_data(sel.text(), sel.offset):
        return None
    for matcher in sel.matchers:
        if matcher.label in ("job", "__name__"):
            continue
        if not scope.has_data(sel.text(without=matcher.label), sel.offset):
            continue
        if sel.name and not matcher.matches_empty() and not scope.has_label(sel.name, matcher.label):
            return Explanation(
                "label missing",
                Severity.WARNING,
                f"no series of {sel.name} carries the label {matcher.label} ({matcher.text()})",
                f"add {matcher.label} to the scrape (see the Labels findings)",
            )
        return Explanation(
            "no traffic",
            Severity.INFO,
            f"no {sel.name or 'series'} with {matcher.text()} in the last {scope.span} "
            "(nothing of that kind happened)",
        )
    if sel.offset:
        return Explanation(
            "no history", Severity.INFO, f"no data {sel.offset} ago (the data is younger than the offset)"
        )
    return Explanation("no traffic", Severity.INFO, f"no {sel.text()} in the last {scope.span}")


def _filters(expr: str) -> bool:
    depth = 0
    for kind, text in promql.tokenize(expr):
        if text == "{":
            depth += 1
        elif text == "}":
            depth -= 1
        elif depth == 0 and kind == "op" and text in (">", "<", ">=", "<=", "==", "!="):
            return True
    return False


def _mismatch(selectors: Sequence[promql.Selector], scope: Scope) -> str:
    """Which labels one selector's series have and another's lack (why ``a / b`` matches nothing)."""
    labels = {
        sel.text(): set(scope.prometheus.label_names([sel.text()], scope.start, scope.end)) - {"__name__"}
        for sel in selectors
    }
    for a, a_labels in labels.items():
        for b, b_labels in labels.items():
            extra = sorted(a_labels - b_labels)
            if extra:
                return f"{a} carries {', '.join(extra)}, which {b} lacks, so the two never match"
    return "the two sides of an operation never share a label set"


def explain_empty(expr: str, scope: Scope) -> Explanation:
    """Why ``expr`` (fully expanded) returned nothing in ``scope``."""
    try:
        selectors = promql.selectors(expr)
    except promql.PromQLSyntaxError as exc:
        return Explanation("broken", Severity.ERROR, f"cannot read the query: {exc}")
    for sel in selectors:
        found = _not_emitted(sel, scope)
        if found:
            return found
    for sel in selectors:
        found = _narrowed_out(sel, scope)
        if found:
            return found
    if _filters(expr):
        return Explanation(
            "filtered", Severity.INFO, "every series it reads exists; its comparison filters all out"
        )
    return Explanation(
        "broken",
        Severity.ERROR,
        "every series it reads has data, yet the expression returns nothing: " + _mismatch(selectors, scope),
        "regenerate with a fleetobs version that fixes the expression (or correct it by hand)",
    )


def evaluate(
    prometheus: Prometheus, expr: str, *, instant: bool, start: float, end: float, step: float
) -> int:
    """Series with data for ``expr`` as a panel would query it; raises :class:`QueryError`."""
    if instant:
        return len(prometheus.query(expr, end))
    return len(prometheus.query_range(expr, start, end, step))


__all__ = ["Explanation", "QueryError", "Scope", "catalogue_metric", "evaluate", "explain_empty"]
