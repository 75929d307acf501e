"""The grafana/dashboard-linter rule set, re-implemented over our generated JSON.

Each rule is a function returning messages; :func:`lint` runs them all and prefixes each
message with its rule id. The rules follow the upstream linter's checks (names in
``RULES``) with two deliberate choices: ``target-rate-interval`` also rejects fixed ranges
outside ``rate`` (only ``$__rate_interval`` and the dashboard's ``$__range`` are allowed), and
``target-counter-agg`` treats histogram ``_bucket``/``_count``/``_sum`` series as the counters
they are. Elasticsearch panels are held to the datasource rule through the provisioned uid,
since the datasource variable is the Prometheus one. For the same reason the template rules
that concern PromQL (``template-instance``, ``template-label-promql``) apply to Prometheus
dashboards and variables: a dashboard without a Prometheus target needs no ``$instance``, and
an Elasticsearch query variable is not PromQL (``test_catalog`` checks those instead).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from tests.dashboards import walk
from tests.dashboards.promql import COUNTER_FUNCTIONS, COUNTER_SUFFIXES, Analysis, PromQLSyntaxError, analyse

Json = walk.Json

#: Units the upstream linter accepts (the Grafana categories we could plausibly use).
VALID_UNITS = frozenset(
    {
        "none", "string", "short", "percent", "percentunit", "bytes", "decbytes", "bits", "kbytes", "mbytes",
        "Bps", "bps", "ns", "µs", "ms", "s", "m", "h", "d", "dtdurationms", "dtdurations", "cps", "ops",
        "reqps", "rps", "wps", "iops", "cpm", "opm", "rpm", "wpm", "hertz", "bool",
    }
)  # fmt: skip
#: Panel types the upstream panel rules apply to.
QUERY_PANELS = frozenset({"stat", "singlestat", "graph", "table", "timeseries", "gauge"})
DATASOURCE_VARIABLE = ("$datasource", "${datasource}")
PROVISIONED_NON_PROMETHEUS = {"elasticsearch": "elasticsearch"}
TEMPLATE_QUERY = re.compile(r"^(label_names|label_values|metrics|query_result)\((.+)\)$", re.DOTALL)


def template_datasource(d: Json) -> list[str]:
    found = [v for v in walk.variables(d) if v.get("type") == "datasource"]
    if len(found) != 1:
        return [f"expected exactly one datasource variable, found {len(found)}"]
    v = found[0]
    errors = []
    if v.get("name") != "datasource":
        errors.append(f"datasource variable is named {v.get('name')!r}, should be 'datasource'")
    if v.get("label") != "Data source":
        errors.append(f"datasource variable is labelled {v.get('label')!r}, should be 'Data source'")
    if v.get("query") != "prometheus":
        errors.append(f"datasource variable selects {v.get('query')!r}, should be 'prometheus'")
    return errors


def _template(d: Json, name: str) -> list[str]:
    v = walk.variable(d, name)
    if v is None:
        return [f"missing the {name} variable"]
    errors = []
    if v.get("datasource", {}).get("uid") not in DATASOURCE_VARIABLE:
        errors.append(f"{name} variable should use $datasource, uses {v.get('datasource')!r}")
    if v.get("type") != "query":
        errors.append(f"{name} variable should be a query, is {v.get('type')!r}")
    if v.get("label") != name.title():
        errors.append(f"{name} variable should be labelled {name.title()!r}, is {v.get('label')!r}")
    if not v.get("multi"):
        errors.append(f"{name} variable should be multi-select")
    if v.get("allValue") != ".+":
        errors.append(f"{name} variable allValue should be '.+', is {v.get('allValue')!r}")
    return errors


def template_job(d: Json) -> list[str]:
    return _template(d, "job")


def template_instance(d: Json) -> list[str]:
    if next(walk.prometheus_targets(d), None) is None:
        return []
    return _template(d, "instance")


def template_label_promql(d: Json) -> list[str]:
    errors = []
    for v in walk.query_variables(d, "prometheus"):
        match = TEMPLATE_QUERY.match(v.get("query", ""))
        if not match:
            errors.append(f"variable {v.get('name')!r} has invalid query {v.get('query')!r}")
            continue
        inner = match.group(2).rsplit(",", 1)[0] if match.group(1) == "label_values" else match.group(2)
        try:
            analyse(inner)
        except PromQLSyntaxError as exc:
            errors.append(f"variable {v.get('name')!r}: {exc}")
    return errors


def template_on_time_change_reload(d: Json) -> list[str]:
    return [
        f"variable {v.get('name')!r} should refresh on time range change (2), is {v.get('refresh')!r}"
        for v in walk.variables(d)
        if v.get("type") == "query" and v.get("refresh") != 2
    ]


def panel_datasource(d: Json) -> list[str]:
    errors = []
    for p in walk.panels(d):
        if p.get("type") == "row":
            continue
        ds = p.get("datasource") or {}
        uid, kind = ds.get("uid"), ds.get("type")
        ok = (
            uid in DATASOURCE_VARIABLE
            if kind == "prometheus"
            else PROVISIONED_NON_PROMETHEUS.get(str(kind)) == uid
        )
        if not ok:
            errors.append(f"panel {p.get('title')!r} uses datasource {ds!r}")
        errors.extend(
            f"panel {p.get('title')!r} target {t.get('refId')} uses a different datasource"
            for t in p.get("targets", [])
            if t.get("datasource") != ds
        )
    return errors


def panel_title_description(d: Json) -> list[str]:
    return [
        f"panel {p.get('id')} ({p.get('title')!r}) lacks a title or description"
        for p in walk.panels(d)
        if p.get("type") != "row" and not (p.get("title") and p.get("description"))
    ]


def panel_units(d: Json) -> list[str]:
    errors = []
    for p in walk.panels(d):
        if p.get("type") not in QUERY_PANELS:
            continue
        field_config = p.get("fieldConfig", {})
        unit = field_config.get("defaults", {}).get("unit")
        if unit not in VALID_UNITS:
            errors.append(f"panel {p.get('title')!r} has no or invalid unit {unit!r}")
        for override in field_config.get("overrides", []):
            for prop in override.get("properties", []):
                if prop.get("id") == "unit" and prop.get("value") not in VALID_UNITS:
                    errors.append(f"panel {p.get('title')!r} override has invalid unit {prop.get('value')!r}")
    return errors


def panel_no_targets(d: Json) -> list[str]:
    return [
        f"panel {p.get('title')!r} has no targets"
        for p in walk.panels(d)
        if p.get("type") in QUERY_PANELS and not p.get("targets")
    ]


def _target_rules(d: Json, check: Callable[[Json, Json, str], list[str]]) -> list[str]:
    errors: list[str] = []
    for panel, target in walk.prometheus_targets(d):
        errors.extend(
            f"panel {panel.get('title')!r} {target.get('refId')}: {m}"
            for m in check(panel, target, target["expr"])
        )
    return errors


def target_promql(d: Json) -> list[str]:
    def check(_p: Json, _t: Json, expr: str) -> list[str]:
        try:
            analyse(expr)
        except PromQLSyntaxError as exc:
            return [str(exc)]
        return []

    return _target_rules(d, check)


def _analysed(expr: str) -> Analysis | None:
    try:
        return analyse(expr)
    except PromQLSyntaxError:
        return None  # target-promql reports it


def target_rate_interval(d: Json) -> list[str]:
    def check(_p: Json, _t: Json, expr: str) -> list[str]:
        a = _analysed(expr)
        if a is None:
            return []
        errors = []
        for s in a.selectors:
            if s.range is None:
                continue
            if s.function in ("rate", "irate") and s.range != "$__rate_interval":
                errors.append(f"{s.function}({s.metric}[{s.range}]) should use $__rate_interval")
            elif s.range not in ("$__rate_interval", "$__range"):
                errors.append(f"{s.metric}[{s.range}] uses a fixed range")
        return errors

    return _target_rules(d, check)


def _required_matcher(label: str) -> Callable[[Json], list[str]]:
    def rule(d: Json) -> list[str]:
        def check(_p: Json, _t: Json, expr: str) -> list[str]:
            a = _analysed(expr)
            if a is None:
                return []
            return [
                f'selector {s.metric} lacks {label}=~"${label}"'
                for s in a.selectors
                if s.matchers.get(label) != ("=~", f"${label}")
            ]

        return _target_rules(d, check)

    return rule


target_job = _required_matcher("job")
target_instance = _required_matcher("instance")


def target_counter_agg(d: Json) -> list[str]:
    def check(_p: Json, _t: Json, expr: str) -> list[str]:
        a = _analysed(expr)
        if a is None:
            return []
        return [
            f"counter {s.metric} is not inside rate, irate or increase"
            for s in a.selectors
            if s.metric.endswith(COUNTER_SUFFIXES)
            and (s.range is None or s.function not in COUNTER_FUNCTIONS)
        ]

    return _target_rules(d, check)


def uneditable_dashboard(d: Json) -> list[str]:
    return ["dashboard is editable"] if d.get("editable", True) else []


RULES: dict[str, Callable[[Json], list[str]]] = {
    "template-datasource": template_datasource,
    "template-job": template_job,
    "template-instance": template_instance,
    "template-label-promql": template_label_promql,
    "template-on-time-change-reload": template_on_time_change_reload,
    "panel-datasource": panel_datasource,
    "panel-title-description": panel_title_description,
    "panel-units": panel_units,
    "panel-no-targets": panel_no_targets,
    "target-promql": target_promql,
    "target-rate-interval": target_rate_interval,
    "target-job": target_job,
    "target-instance": target_instance,
    "target-counter-agg": target_counter_agg,
    "uneditable-dashboard": uneditable_dashboard,
}


def lint(d: Json) -> list[str]:
    """Every rule violation in ``d``, as ``"<rule>: <message>"``."""
    return [f"{rule}: {message}" for rule, check in RULES.items() for message in check(d)]
