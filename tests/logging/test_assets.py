"""Elasticsearch/Kibana assets: generated from the catalogue, consistent with real output, installable."""

from __future__ import annotations

import ipaddress
import json
import logging
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import structlog
from django.test import Client

from instrumentation.catalog import LOG_FIELDS
from instrumentation.logging import assets, cli
from instrumentation.logging.testing import CapturedLogs
from instrumentation.tracing.testing import capture_spans
from tests.logging.es_server import FakeElasticsearch, FakeKibana
from tests.support.procs import free_port

ROOT = Path(__file__).resolve().parents[2]


def leaf_mappings(properties: dict[str, Any], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for name, mapping in properties.items():
        path = f"{prefix}{name}"
        if "properties" in mapping:
            out.update(leaf_mappings(mapping["properties"], f"{path}."))
        else:
            out[path] = mapping["type"]
    return out


TEMPLATE_FIELDS = leaf_mappings(assets.index_template()["template"]["mappings"]["properties"])


def test_template_maps_exactly_the_catalogue() -> None:
    assert {f.name: f.type for f in LOG_FIELDS} == TEMPLATE_FIELDS
    template = assets.index_template(retention_days=90)
    assert template["index_patterns"] == ["logs-fleetobs-*"]
    assert template["data_stream"] == {}
    assert template["template"]["settings"]["index.lifecycle.name"] == assets.ILM_POLICY_NAME
    assert template["template"]["mappings"]["dynamic"] is False


def test_ilm_policy_rolls_over_and_deletes_after_retention() -> None:
    policy = assets.ilm_policy(45)["policy"]
    assert "rollover" in policy["phases"]["hot"]["actions"]
    assert policy["phases"]["delete"] == {"min_age": "45d", "actions": {"delete": {}}}
    with pytest.raises(ValueError, match="retention_days"):
        assets.ilm_policy(0)


def _compatible(es_type: str, value: Any) -> bool:
    if es_type in {"keyword", "text", "match_only_text"}:
        return isinstance(value, str)
    if es_type in {"long", "integer"}:
        return isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63
    if es_type in {"float", "double"}:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if es_type == "boolean":
        return isinstance(value, bool)
    if es_type == "ip":
        try:
            ipaddress.ip_address(value)
        except ValueError:
            return False
        return True
    if es_type == "date":
        return isinstance(value, str) and datetime.fromisoformat(value.replace("Z", "+00:00")) is not None
    if es_type == "flattened":
        return isinstance(value, dict)
    return False


def _walk(value: Any, prefix: str, out: dict[str, Any]) -> None:
    if isinstance(value, dict) and prefix not in TEMPLATE_FIELDS:
        for key, item in value.items():
            _walk(item, f"{prefix}.{key}" if prefix else key, out)
    else:
        out[prefix] = value


@pytest.mark.django_db
def test_real_output_fits_the_template(logs: CapturedLogs) -> None:
    from tests.project.models import Author, Book

    for index in range(6):
        Book.objects.create(title=f"b{index}", author=Author.objects.create(name=f"a{index}"))
    client = Client(raise_request_exception=False)
    with capture_spans():
        for path in (
            "/ok/?q=1",
            "/items/3/",
            "/boom/",
            "/missing/",
            "/forbidden/",
            "/books/n-plus-one/",
            "/cached/",
            "/nowhere/",
            "/metrics",
            "/healthz",
        ):
            client.get(path, HTTP_USER_AGENT="walker/1", HTTP_AUTHORIZATION="Bearer x")
        client.post("/ok/", data={"a": "b"})
    structlog.get_logger("shop").info(
        "bound", order=1, nested={"a": [1, 2]}, **{"task.name": "t", "task.id": "1"}
    )
    try:
        raise OSError("disk")
    except OSError:
        logging.getLogger("shop").exception("io")
    seen: set[str] = set()
    lines = logs.lines()
    assert len(lines) >= 14
    for line in lines:
        fields: dict[str, Any] = {}
        _walk(line, "", fields)
        for name, value in fields.items():
            assert name in TEMPLATE_FIELDS, f"{name} is emitted but not mapped"
            assert _compatible(TEMPLATE_FIELDS[name], value), (name, TEMPLATE_FIELDS[name], value)
            seen.add(name)
    # The walk covered the interesting fields, not just the static ones.
    assert {
        "trace.id",
        "span.id",
        "event.duration",
        "client.ip",
        "error.stack_trace",
        "db.query_count",
        "http.response.body.bytes",
        "user_agent.original",
        "labels",
        "task.name",
    } <= seen


def test_kibana_objects_reference_only_template_fields() -> None:
    objects = assets.kibana_objects()
    ids = {(obj["type"], obj["id"]) for obj in objects}
    kinds = [obj["type"] for obj in objects]
    assert kinds.count("search") == 3
    assert kinds.count("dashboard") == 1
    assert kinds[0] == "index-pattern"
    for obj in objects:
        referenced = assets.referenced_fields(obj)
        assert referenced <= set(TEMPLATE_FIELDS), (obj["id"], referenced - set(TEMPLATE_FIELDS))
        for reference in obj["references"]:
            assert (reference["type"], reference["id"]) in ids
    searches = {obj["id"]: obj for obj in objects if obj["type"] == "search"}
    assert "trace.id" in assets.referenced_fields(searches["fleetobs-logs-trace-lookup"])
    assert "error.type" in assets.referenced_fields(
        next(o for o in objects if o["id"] == "fleetobs-logs-top-error-types")
    )


def test_bar_charts_carry_the_axis_params_kibana_reads() -> None:
    """Kibana fills in missing top-level vis params only; its XY chart code reads each axis's
    scale, labels and title, and each series' axis, without checking they exist."""
    charts = [
        json.loads(obj["attributes"]["visState"])
        for obj in assets.kibana_objects()
        if obj["type"] == "visualization" and json.loads(obj["attributes"]["visState"])["type"] == "histogram"
    ]
    assert len(charts) == 2
    for chart in charts:
        params = chart["params"]
        axes = {axis["id"]: axis for axis in params["valueAxes"]}
        for axis in params["categoryAxes"] + params["valueAxes"]:
            assert {"scale", "labels", "title", "style", "position", "show"} <= set(axis), axis["id"]
            assert axis["scale"]["type"] == "linear"
        for axis in params["valueAxes"]:
            assert axis["scale"]["mode"] in {"normal", "percentage", "wiggle", "silhouette"}
        for series in params["seriesParams"]:
            assert series["valueAxis"] in axes
            assert series["data"]["id"] in {agg["id"] for agg in chart["aggs"] if agg["schema"] == "metric"}


def test_ndjson_is_one_object_per_line() -> None:
    lines = assets.kibana_ndjson().splitlines()
    assert len(lines) == len(assets.kibana_objects())
    for line in lines:
        json.loads(line)


# --- CLI -----------------------------------------------------------------------------------------


def run_cli(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "fleetobs.py"), *argv],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def test_elasticsearch_setup_is_idempotent(es_server: FakeElasticsearch) -> None:
    for _ in range(2):
        result = run_cli("elasticsearch", "setup", "--url", es_server.url, "--retention-days", "14")
        assert result.returncode == 0, result.stderr
        assert "installed ILM policy logs-fleetobs" in result.stdout
    assert es_server.policies["logs-fleetobs"] == assets.ilm_policy(14)
    assert es_server.templates["logs-fleetobs"] == assets.index_template(14)


def test_elasticsearch_setup_sends_the_api_key() -> None:
    server = FakeElasticsearch(api_key="good-key")
    server.start()
    try:
        refused = run_cli("elasticsearch", "setup", "--url", server.url, "--api-key", "bad-key")
        accepted = run_cli("elasticsearch", "setup", "--url", server.url, "--api-key", "good-key")
    finally:
        server.stop()
    assert refused.returncode == cli.REFUSED
    assert refused.stderr.count("\n") == 1
    assert "refused PUT _ilm/policy/logs-fleetobs: 401 security_exception" in refused.stderr
    assert accepted.returncode == 0, accepted.stderr


def test_elasticsearch_setup_unreachable() -> None:
    result = run_cli("elasticsearch", "setup", "--url", f"http://127.0.0.1:{free_port()}", "--timeout", "2")
    assert result.returncode == cli.UNREACHABLE
    assert result.stderr.startswith("fleetobs: cannot reach Elasticsearch at http://127.0.0.1:")
    assert result.stderr.count("\n") == 1


def test_elasticsearch_assets_written(tmp_path: Path) -> None:
    result = run_cli("elasticsearch", "assets", "--out", str(tmp_path), "--retention-days", "7")
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "ilm-policy.json").read_text()) == assets.ilm_policy(7)
    assert json.loads((tmp_path / "index-template.json").read_text()) == assets.index_template(7)
    assert (tmp_path / "kibana-saved-objects.ndjson").read_text() == assets.kibana_ndjson()


def test_kibana_import_is_idempotent(kibana_server: FakeKibana) -> None:
    for _ in range(2):
        result = run_cli("kibana", "import", "--url", kibana_server.url)
        assert result.returncode == 0, result.stderr
        assert re.search(r"imported \d+ saved objects", result.stdout)
    assert {key[1] for key in kibana_server.objects} == {obj["id"] for obj in assets.kibana_objects()}


def test_kibana_import_refused(kibana_server: FakeKibana) -> None:
    kibana_server.refuse = True
    result = run_cli("kibana", "import", "--url", kibana_server.url)
    assert result.returncode == cli.REFUSED
    assert "refused the import: 403" in result.stderr
    assert result.stderr.count("\n") == 1


def test_kibana_import_unreachable() -> None:
    result = run_cli("kibana", "import", "--url", f"http://127.0.0.1:{free_port()}", "--timeout", "2")
    assert result.returncode == cli.UNREACHABLE
    assert result.stderr.startswith("fleetobs: cannot reach Kibana at")
    assert result.stderr.count("\n") == 1
