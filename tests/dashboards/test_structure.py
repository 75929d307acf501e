"""Generated dashboards are valid, current-schema Grafana JSON with a sane layout."""

from __future__ import annotations

import itertools
import json
import re
from typing import Any

import pytest

from dashboards import generate, postprocess, uids
from tests.dashboards import walk

NAMES = sorted(generate.dashboards())
PANEL_TYPES = {"row", "timeseries", "stat", "table", "logs"}
LINK_UID = re.compile(r"^/d/([a-z0-9-]+)\?")


def test_every_dashboard_is_generated() -> None:
    assert (
        sorted(
            f"{uid}.json"
            for uid in (uids.OVERVIEW, uids.SERVICE, uids.RESOURCES, uids.DATABASE, uids.TASKS, uids.LOGS)
        )
        == NAMES
    )


@pytest.mark.parametrize("name", NAMES)
def test_dashboard_header(generated: dict[str, Any], name: str) -> None:
    d = generated[name]
    assert f"{d['uid']}.json" == name
    assert d["title"]
    assert d["description"]
    assert d["schemaVersion"] == postprocess.SCHEMA_VERSION
    assert d["editable"] is False
    assert d["id"] is None
    assert uids.TAG in d["tags"]
    for legacy in ("rows", "sharedCrosshair", "style", "hideControls"):
        assert legacy not in d


@pytest.mark.parametrize("name", NAMES)
def test_panel_ids_are_unique(generated: dict[str, Any], name: str) -> None:
    ids = [p["id"] for p in walk.panels(generated[name])]
    assert len(ids) == len(set(ids))
    assert all(isinstance(i, int) and i > 0 for i in ids)


@pytest.mark.parametrize("name", NAMES)
def test_grid_positions_fit_and_do_not_overlap(generated: dict[str, Any], name: str) -> None:
    boxes = []
    for p in walk.panels(generated[name]):
        g = p["gridPos"]
        assert min(g["w"], g["h"], g["x"]) >= 0, p["title"]
        assert g["w"] > 0, p["title"]
        assert g["h"] > 0, p["title"]
        assert g["x"] + g["w"] <= 24, p["title"]
        assert g["y"] >= 0, p["title"]
        if p["type"] == "row":
            assert (g["x"], g["w"], g["h"]) == (0, 24, 1)
        boxes.append((p["title"], g))
    for (a, ga), (b, gb) in itertools.combinations(boxes, 2):
        overlap_x = ga["x"] < gb["x"] + gb["w"] and gb["x"] < ga["x"] + ga["w"]
        overlap_y = ga["y"] < gb["y"] + gb["h"] and gb["y"] < ga["y"] + ga["h"]
        assert not (overlap_x and overlap_y), f"{a!r} overlaps {b!r}"


@pytest.mark.parametrize("name", NAMES)
def test_panels_use_current_types_and_no_legacy_keys(generated: dict[str, Any], name: str) -> None:
    for p in walk.panels(generated[name]):
        assert p["type"] in PANEL_TYPES, p["type"]
        for legacy in ("span", "height", "error", "minSpan", "maxDataPoints"):
            assert legacy not in p, (p["title"], legacy)
        refs = [t["refId"] for t in p.get("targets", [])]
        assert len(refs) == len(set(refs)), p["title"]


@pytest.mark.parametrize("name", NAMES)
def test_first_panel_is_a_row_and_every_row_has_panels(generated: dict[str, Any], name: str) -> None:
    panels = generated[name]["panels"]
    assert panels[0]["type"] == "row"
    kinds = [p["type"] for p in panels] + ["row"]
    assert all(not (a == "row" and b == "row") for a, b in itertools.pairwise(kinds))


def _links(d: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            candidates = node.get("links")
            if node.get("id") == "links":  # a field override property
                candidates = node.get("value")
            if isinstance(candidates, list):
                found.extend(link for link in candidates if isinstance(link, dict) and "url" in link)
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    for p in walk.panels(d):
        visit(p)
    return found


def test_data_links_point_at_dashboards_that_exist(generated: dict[str, Any]) -> None:
    existing = {d["uid"] for d in generated.values()}
    links = [link for d in generated.values() for link in _links(d)]
    internal = [link for link in links if link["url"].startswith("/d/")]
    assert internal, "the overview links to its drill-downs"
    for link in internal:
        match = LINK_UID.match(link["url"])
        assert match, link["url"]
        assert match.group(1) in existing, link["url"]
        assert "${__url_time_range}" in link["url"]


def test_latency_panels_carry_exemplars(generated: dict[str, Any]) -> None:
    exemplar_panels = set()
    for d in generated.values():
        for panel, target in walk.prometheus_targets(d):
            if target["exemplar"]:
                assert "http_server_request_duration_seconds_bucket" in target["expr"]
                exemplar_panels.add((d["uid"], panel["title"]))
    assert (uids.SERVICE, "Latency p50 / p95 / p99") in exemplar_panels
    assert (uids.OVERVIEW, "Latency p50 / p95 / p99 by service") in exemplar_panels


def test_trace_links_in_logs_open_tempo(generated: dict[str, Any]) -> None:
    links = _links(generated[f"{uids.LOGS}.json"])
    explore = [link for link in links if link["url"].startswith("/explore")]
    assert explore
    for link in explore:
        assert "${__value.raw}" in link["url"]
        assert f"%22{uids.TEMPO}%22" in link["url"]


@pytest.mark.parametrize("name", NAMES)
def test_rendering_is_plain_sorted_json(generated: dict[str, Any], name: str) -> None:
    text = generate.render(generated[name])
    assert json.loads(text) == generated[name]
    assert text == json.dumps(json.loads(text), sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def test_alert_dashboard_links_open_existing_dashboards(generated: dict[str, Any]) -> None:
    from alerting import api
    from alerting.context import DASHBOARDS

    existing = {d["uid"]: d for d in generated.values()}
    assert set(DASHBOARDS.values()) <= set(existing)
    links = [alert.dashboard_url for alert in api.alerts(api.build_context())]
    assert links
    for link in links:  # every variable an alert passes exists where its link lands
        uid = re.search(r"/d/([a-z0-9-]+)", link).group(1)  # type: ignore[union-attr]
        for name in re.findall(r"[?&]var-([a-z_]+)=", link):
            assert walk.variable(existing[uid], name) is not None, (link, name)
