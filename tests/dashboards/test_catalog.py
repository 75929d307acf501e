"""Every metric, label and log field the dashboards and provisioning use is in the signal catalogue."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml

from dashboards import generate, provisioning, uids
from instrumentation.catalog import LOG_FIELDS, METRICS, series_names
from tests.dashboards import walk
from tests.dashboards.promql import analyse

NAMES = sorted(generate.dashboards())
STANDARD = {"job", "instance", "environment"}
LOG_FIELD_NAMES = {f.name for f in LOG_FIELDS}
LOG_FIELD_TYPES = {f.name: f.type for f in LOG_FIELDS}
LEGEND_LABEL = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
LUCENE_FIELD = re.compile(r"(?:^|[\s(])((?:\\@)?[A-Za-z_@][A-Za-z0-9_.@]*):")
LUCENE_EXISTS = re.compile(r"_exists_:([A-Za-z0-9_.@]+)")


def allowed_labels(series: str) -> set[str]:
    """Labels a series may carry, from the catalogue (independent of dashboards.queries)."""
    for m in METRICS:
        if series in m.series:
            return set(m.labels) | STANDARD | ({"le"} if series.endswith("_bucket") else set())
    raise AssertionError(f"{series} is not in the catalogue")


def check_expression(expr: str) -> tuple[set[str], set[str]]:
    """Assert catalogue membership; returns (labels available in the result, derived labels)."""
    a = analyse(expr)
    assert a.selectors, f"no selector in {expr}"
    available: set[str] = set()
    for s in a.selectors:
        assert s.metric in series_names(), f"{s.metric} is not a catalogue series: {expr}"
        allowed = allowed_labels(s.metric)
        unknown = set(s.matchers) - allowed
        assert not unknown, f"{s.metric} has no label(s) {unknown}: {expr}"
        available |= allowed
    unknown = a.grouping_labels - available - a.derived_labels
    assert not unknown, f"grouping by undeclared label(s) {unknown}: {expr}"
    return a.grouping_labels, a.derived_labels


@pytest.mark.parametrize("name", NAMES)
def test_prometheus_queries_use_only_catalogue_metrics_and_labels(
    generated: dict[str, Any], name: str
) -> None:
    for panel, target in walk.prometheus_targets(generated[name]):
        grouping, derived = check_expression(target["expr"])
        legend_labels = set(LEGEND_LABEL.findall(target["legendFormat"]))
        assert legend_labels <= grouping | derived, (panel["title"], target["legendFormat"])


@pytest.mark.parametrize("name", NAMES)
def test_variables_use_only_catalogue_metrics_and_labels(generated: dict[str, Any], name: str) -> None:
    dashboard = generated[name]
    assert len(walk.query_variables(dashboard, "prometheus")) + len(
        walk.query_variables(dashboard, "elasticsearch")
    ) == len([v for v in walk.variables(dashboard) if v["type"] == "query"])
    for var in walk.query_variables(dashboard, "prometheus"):
        match = re.fullmatch(r"label_values\((.+), ([a-z_]+)\)", var["query"])
        assert match, var["query"]
        check_expression(match.group(1))
        assert match.group(2) in allowed_labels(analyse(match.group(1)).selectors[0].metric)


def test_latency_threshold_choices_are_real_bucket_boundaries(generated: dict[str, Any]) -> None:
    var = walk.variable(generated[f"{uids.OVERVIEW}.json"], "slo_latency_threshold")
    assert var is not None
    buckets = next(m.buckets for m in METRICS if m.name == "http_server_request_duration_seconds")
    # prometheus_client writes le as Go does: 0.5 -> "0.5", 1 -> "1.0"
    assert {o["value"] for o in var["options"]} == {repr(float(b)) for b in buckets}
    assert var["current"]["value"] in {o["value"] for o in var["options"]}


def _es_fields(target: dict[str, Any]) -> set[str]:
    fields = {target["timeField"]}
    fields |= {agg["field"] for agg in target.get("bucketAggs", []) if "field" in agg}
    fields |= {m["field"] for m in target.get("metrics", []) if "field" in m}
    fields |= set(LUCENE_EXISTS.findall(target["query"]))
    rest = LUCENE_EXISTS.sub("", target["query"])
    fields |= {f.replace("\\@", "@") for f in LUCENE_FIELD.findall(rest)}
    return fields


@pytest.mark.parametrize("name", NAMES)
def test_elasticsearch_panels_use_only_index_template_fields(generated: dict[str, Any], name: str) -> None:
    for panel, target in walk.elasticsearch_targets(generated[name]):
        assert _es_fields(target) <= LOG_FIELD_NAMES, (panel["title"], _es_fields(target) - LOG_FIELD_NAMES)
        for transform in panel.get("transformations", []):
            names = transform["options"].get("include", {}).get("names", [])
            names += list(transform["options"].get("indexByName", {}))
            assert set(names) <= LOG_FIELD_NAMES, panel["title"]
        for override in panel["fieldConfig"].get("overrides", []):
            assert override["matcher"]["options"] in LOG_FIELD_NAMES, panel["title"]


@pytest.mark.parametrize("name", NAMES)
def test_elasticsearch_variables_are_terms_of_index_template_fields(
    generated: dict[str, Any], name: str
) -> None:
    dashboard = generated[name]
    defined: set[str] = set()
    for var in walk.variables(dashboard):
        if var in walk.query_variables(dashboard, "elasticsearch"):
            assert var["datasource"]["uid"] == uids.ELASTICSEARCH
            definition = json.loads(var["query"])
            assert definition["find"] == "terms", var["name"]
            assert definition["field"] in LOG_FIELD_NAMES, var["name"]
            assert LOG_FIELD_TYPES[definition["field"]] == "keyword", "terms need an aggregatable field"
            query = definition["query"]
            assert _es_fields({"timeField": "@timestamp", "query": query}) <= LOG_FIELD_NAMES, query
            # Only variables defined before it, so Grafana can resolve them in order.
            assert set(re.findall(r"\$\{(\w+)", query)) <= defined, (var["name"], query)
        defined.add(var["name"])


def test_logs_dashboard_has_elasticsearch_panels(generated: dict[str, Any]) -> None:
    dashboard = generated[f"{uids.LOGS}.json"]
    targets = list(walk.elasticsearch_targets(dashboard))
    assert len(targets) >= 5
    for panel, target in targets:
        for clause in (
            "service.name:/${job:regex}/",
            "service.environment:/${environment:regex}/",
            "host.name:/${host:regex}/",
        ):
            assert clause in target["query"], (panel["title"], clause)
    # Logs name their host, not a scrape address: no Prometheus $instance that would do nothing.
    assert walk.variable(dashboard, "instance") is None
    host = walk.variable(dashboard, "host")
    assert host is not None
    assert json.loads(host["query"])["field"] == "host.name"


# --- provisioning -----------------------------------------------------------------------------


def _unescape(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("$$", "$")
    if isinstance(value, dict):
        return {k: _unescape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unescape(v) for v in value]
    return value


@pytest.fixture(scope="module")
def datasources(provisioning_files: dict[str, str]) -> dict[str, dict[str, Any]]:
    doc = yaml.safe_load(provisioning_files[provisioning.DATASOURCES_FILE])
    return {ds["uid"]: _unescape(ds) for ds in doc["datasources"]}


def test_provisioning_files_parse(provisioning_files: dict[str, str]) -> None:
    for text in provisioning_files.values():
        doc = yaml.safe_load(text)
        assert doc["apiVersion"] == 1


def test_every_dollar_is_escaped_for_grafana(provisioning_files: dict[str, str]) -> None:
    for text in provisioning_files.values():
        assert not re.search(r"(?<!\$)\$(?!\$)", text.replace("$$", "")), text


def test_datasources_have_fixed_uids_and_compose_urls(datasources: dict[str, dict[str, Any]]) -> None:
    assert {uid: ds["url"] for uid, ds in datasources.items()} == {
        "prometheus": "http://prometheus:9090",
        "tempo": "http://tempo:3200",
        "elasticsearch": "http://elasticsearch:9200",
        "alertmanager": "http://alertmanager:9093",
    }
    assert [uid for uid, ds in datasources.items() if ds.get("isDefault")] == ["prometheus"]


def test_correlations_reference_existing_datasources(datasources: dict[str, dict[str, Any]]) -> None:
    prom, tempo, es = datasources["prometheus"], datasources["tempo"], datasources["elasticsearch"]
    assert prom["jsonData"]["exemplarTraceIdDestinations"] == [
        {"name": "trace_id", "datasourceUid": "tempo", "urlDisplayLabel": "View trace"}
    ]
    referenced = [
        tempo["jsonData"]["tracesToLogsV2"]["datasourceUid"],
        tempo["jsonData"]["tracesToMetrics"]["datasourceUid"],
        tempo["jsonData"]["serviceMap"]["datasourceUid"],
        *(link["datasourceUid"] for link in es["jsonData"]["dataLinks"]),
    ]
    assert set(referenced) <= set(datasources)
    assert tempo["jsonData"]["tracesToLogsV2"]["datasourceUid"] == "elasticsearch"
    assert tempo["jsonData"]["nodeGraph"] == {"enabled": True}


def test_elasticsearch_datasource_uses_log_fields(datasources: dict[str, dict[str, Any]]) -> None:
    data = datasources["elasticsearch"]["jsonData"]
    assert data["index"] == "logs-fleetobs-*"
    assert (data["timeField"], data["logMessageField"], data["logLevelField"]) == (
        "@timestamp",
        "message",
        "log.level",
    )
    assert {data["timeField"], data["logMessageField"], data["logLevelField"]} <= LOG_FIELD_NAMES
    assert data["dataLinks"] == [
        {
            "field": "trace.id",
            "datasourceUid": "tempo",
            "url": "${__value.raw}",
            "urlDisplayLabel": "View trace",
        }
    ]
    query = datasources["tempo"]["jsonData"]["tracesToLogsV2"]["query"]
    assert query == 'trace.id:"${__trace.traceId}"'


def test_trace_to_metrics_queries_use_the_catalogue(datasources: dict[str, dict[str, Any]]) -> None:
    for query in datasources["tempo"]["jsonData"]["tracesToMetrics"]["queries"]:
        check_expression(query["query"].replace("{$__tags}", "{}"))


def test_dashboards_reference_provisioned_datasources(
    generated: dict[str, Any], datasources: dict[str, dict[str, Any]]
) -> None:
    for d in generated.values():
        for panel in walk.panels(d):
            uid = panel.get("datasource", {}).get("uid")
            if uid is None:
                continue
            if uid == "${datasource}":
                var = walk.variable(d, "datasource")
                assert var is not None
                uid = var["current"]["value"]
            assert uid in datasources, (d["uid"], panel["title"], uid)
