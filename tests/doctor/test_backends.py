"""The Logs and Grafana checks against protocol-level Elasticsearch and Grafana servers, and the
pure parts of the doctor: Grafana's variable expansion, selectors, Alertmanager routing, reports."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from doctor import expand, grafana, logs, promql, routing
from doctor.findings import Finding, Report, Severity
from doctor.http import BackendUnreachableError, Client
from doctor.panels import generated_dashboards
from instrumentation.catalog import LOG_FIELDS
from tests.doctor.servers import FakeElasticsearch, FakeGrafana
from tests.support.procs import free_port, require_binary

TOKEN = "grafana-test-token"


def _template() -> dict[str, Any]:
    properties: dict[str, Any] = {}
    for field in LOG_FIELDS:
        parts = [field.name] if field.name.startswith("@") else field.name.split(".")
        node = properties
        for part in parts[:-1]:
            node = node.setdefault(part, {"properties": {}})["properties"]
        node[parts[-1]] = {"type": field.type}
    return {
        "index_patterns": ["logs-fleetobs-*"],
        "data_stream": {},
        "template": {
            "settings": {"index": {"lifecycle": {"name": "logs-fleetobs"}}},
            "mappings": {"properties": properties},
        },
    }


@pytest.fixture
def es() -> Iterator[FakeElasticsearch]:
    with FakeElasticsearch() as server:
        server.templates["logs-fleetobs"] = _template()
        server.policies["logs-fleetobs"] = {"policy": {"phases": {}}}
        server.data_streams.append({"name": "logs-fleetobs-default", "template": "logs-fleetobs"})
        server.docs.extend(
            [
                {"service.name": "shop", "event.dataset": "django.access", "trace.id": "a" * 32},
                {"service.name": "shop", "event.dataset": "django.log"},
            ]
        )
        yield server


def _lines(findings: list[Finding]) -> list[str]:
    return [f"{f.severity.value} {f.line()}" for f in findings]


def test_complete_log_assets_and_traced_lines_give_no_finding(es: FakeElasticsearch) -> None:
    assert logs.check(Client(es.url), ["shop"]) == []
    assert es.writes == 0


def test_a_missing_index_template_is_an_error(es: FakeElasticsearch) -> None:
    es.templates.clear()
    assert _lines(logs.check(Client(es.url), ["shop"])) == [
        "error [Logs] index template logs-fleetobs: missing: log lines get dynamic mappings and no retention "
        "Fix: install it: fleetobs elasticsearch setup --url URL"
    ]


def test_missing_policy_stream_fields_and_trace_ids_are_each_reported(es: FakeElasticsearch) -> None:
    es.policies.clear()
    template = es.templates["logs-fleetobs"]
    del template["template"]["mappings"]["properties"]["trace"]
    template["template"]["mappings"]["properties"]["process"]["properties"]["pid"] = {"type": "keyword"}
    found = _lines(logs.check(Client(es.url), ["shop", "payments"]))
    assert any(
        "error [Logs] ILM policy logs-fleetobs: missing (the template names it)" in line for line in found
    )
    assert any("does not map 1 catalogue field(s): trace.id" in line for line in found)
    assert any("process.pid is keyword, not long" in line for line in found)
    assert any("[Logs] service payments: no log line in the last 15m" in line for line in found)
    es.docs[0].pop("trace.id")
    found = _lines(logs.check(Client(es.url), ["shop"]))
    assert any(
        "service shop: none of its 1 access lines of the last 15m carries trace.id" in line for line in found
    )
    es.data_streams.clear()
    found = _lines(logs.check(Client(es.url), ["shop"]))
    assert any("data stream logs-fleetobs-*: none exists" in line for line in found)


def test_an_unreachable_elasticsearch_cannot_be_checked() -> None:
    with pytest.raises(BackendUnreachableError, match="cannot connect to"):
        logs.check(Client(f"http://127.0.0.1:{free_port()}"), ["shop"])


@pytest.fixture
def dashboards() -> dict[str, dict[str, Any]]:
    return generated_dashboards()


@pytest.fixture
def grafana_server(dashboards: dict[str, dict[str, Any]]) -> Iterator[FakeGrafana]:
    with FakeGrafana(TOKEN) as server:
        for dashboard in dashboards.values():
            server.dashboards[dashboard["uid"]] = {**copy.deepcopy(dashboard), "id": 7, "version": 3}
        server.datasources |= {"prometheus", "elasticsearch", "tempo"}
        yield server


def test_grafana_with_current_dashboards_and_datasources_has_no_finding(
    grafana_server: FakeGrafana, dashboards: dict[str, dict[str, Any]]
) -> None:
    assert grafana.check(grafana.client(grafana_server.url, TOKEN, 5), dashboards) == []


def test_grafana_missing_outdated_dashboards_and_datasources(
    grafana_server: FakeGrafana, dashboards: dict[str, dict[str, Any]]
) -> None:
    del grafana_server.dashboards["fleetobs-tasks"]
    service = grafana_server.dashboards["fleetobs-service"]
    service["panels"][1]["targets"][0]["expr"] = "sum(rate(old_metric_total[5m]))"
    grafana_server.datasources -= {"elasticsearch", "prometheus"}
    found = _lines(grafana.check(grafana.client(grafana_server.url, TOKEN, 5), dashboards))
    assert len(found) == 4
    assert found[:2] == [
        "error [Grafana] dashboard Background tasks: missing (no dashboard with uid fleetobs-tasks) "
        "Fix: load it: fleetobs dashboards upload --url URL (or provision the generated files)",
        f"warning [Grafana] dashboard {service['title']}: outdated: Grafana's copy (version 3) differs "
        "from the generated one in 2 queries Fix: load this fleetobs version's: "
        "fleetobs dashboards upload --url URL "
        "(or provision the generated files)",
    ] or found[:2][::-1] == [
        "error [Grafana] dashboard Background tasks: missing (no dashboard with uid fleetobs-tasks) "
        "Fix: load it: fleetobs dashboards upload --url URL (or provision the generated files)",
        f"warning [Grafana] dashboard {service['title']}: outdated: Grafana's copy (version 3) differs "
        "from the generated one in 2 queries Fix: load this fleetobs version's: "
        "fleetobs dashboards upload --url URL "
        "(or provision the generated files)",
    ]
    assert found[2].startswith(
        "warning [Grafana] datasource prometheus: missing: the dashboards' data source picker"
    )
    assert found[3].startswith("error [Grafana] datasource elasticsearch: missing")


def test_grafana_refusing_the_token_cannot_be_checked(grafana_server: FakeGrafana, dashboards: Any) -> None:
    with pytest.raises(BackendUnreachableError, match="check --grafana-token"):
        grafana.check(grafana.client(grafana_server.url, "wrong", 5), dashboards)


def test_expansion_follows_grafana_for_all_multi_values_and_intervals() -> None:
    dashboard = {
        "templating": {
            "list": [
                {"name": "datasource", "type": "datasource"},
                {"name": "job", "type": "query", "multi": True, "includeAll": True, "allValue": ".+"},
                {"name": "route", "type": "query", "multi": True, "includeAll": True},
                {"name": "slo", "type": "custom", "current": {"value": "0.999"}},
            ]
        }
    }
    time_range = expand.TimeRange(3600, 15)
    resolved = expand.Expander(dashboard, time_range, {}, lambda _var, _known: ["a.b/", "c"])
    expr = 'sum(rate(x{job=~"$job", route=~"${route}"}[$__rate_interval])) > $slo and [[slo]] < $__range_s'
    assert resolved.expand(expr) == (
        'sum(rate(x{job=~".+", route=~"(a\\\\.b/|c)"}[60s])) > 0.999 and 0.999 < 3600'
    )
    chosen = expand.Expander(dashboard, expand.TimeRange(21600, 1), {"job": ["shop", "pay.ments"]})
    assert (
        chosen.expand('x{job=~"$job"}[$__rate_interval] $__range')
        == 'x{job=~"(shop|pay\\\\.ments)"}[23s] 21600s'
    )
    assert (
        expand.Expander(dashboard, time_range, {"job": ["shop"]}).expand('x{job=~"$job"}') == 'x{job=~"shop"}'
    )


def test_selectors_are_found_with_matchers_and_offsets() -> None:
    expr = (
        'sum by (le) (rate(a_bucket{job=~"shop", env=~".*"}[5m] offset 1w)) / on (job) group_left b '
        'or label_replace(c{x!="y"}, "dst", "$1", "src", "(.*)") > bool 0'
    )
    found = promql.selectors(expr)
    assert [s.name for s in found] == ["a_bucket", "b", "c"]
    assert found[0].offset == "1w"
    assert found[0].matcher("env") == promql.Matcher("env", "=~", ".*")
    assert found[0].matcher("env").matches_empty()  # type: ignore[union-attr]
    assert found[0].text(without="env") == 'a_bucket{job=~"shop"}'


def test_routing_agrees_with_amtool(tmp_path: Any) -> None:
    require_binary("amtool")
    import yaml

    from alerting import alertmanager
    from alerting.slo import load_spec
    from alerting.tools import route_receivers

    config = alertmanager.config(load_spec(None))
    path = tmp_path / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config))
    cases = [
        {"alertname": "Watchdog", "severity": "none"},
        {"alertname": "FleetobsHighErrorRate", "severity": "critical", "job": "shop"},
        {"alertname": "FleetobsHighErrorRate", "severity": "warning", "job": "shop", "team": "platform"},
        {"alertname": "FleetobsSomething", "severity": "info"},
        {"alertname": "Other", "severity": "unknown"},
    ]
    for labels in cases:
        assert routing.receivers(config, labels) == route_receivers(path, labels), labels


def test_the_report_groups_by_severity_and_sets_the_exit_code() -> None:
    report = Report(checks=["Targets"])
    assert report.exit_code == 0
    report.add([Finding("Targets", Severity.INFO, "fleet", "note")])
    assert report.exit_code == 0
    report.add([Finding("Labels", Severity.WARNING, "job a", "w", "do x", "snippet: 1")])
    assert report.exit_code == 1
    text = report.text()
    assert "WARNING (1)\n  [Labels] job a: w Fix: do x\n      snippet: 1\n\nINFO (1)" in text
    assert text.endswith("verdict: FINDINGS: 0 errors, 1 warning (exit 1)\n")
    report.unreachable["Grafana"] = "cannot connect"
    assert report.exit_code == 2
