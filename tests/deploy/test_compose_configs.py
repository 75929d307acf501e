"""The configs the compose stack mounts load in their real tools, and agree with each other.

``promtool check config`` reads ``compose/prometheus/prometheus.yml`` with the rule files it
names (relative paths, so the repository layout is the container layout); ``amtool check-config``
reads the Alertmanager config. Grafana, Tempo and Filebeat cannot run here, so their files are
read and checked against what the other side expects: datasource uids the dashboards use,
the provider path the compose file mounts, the data stream the log assets template.
Whether the mounted dashboards equal ``fleetobs dashboards generate`` output is tested in
``tests/dashboards/test_generate.py``; whether the rules equal ``fleetobs alerts generate`` output,
in ``tests/alerting/``.
"""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.conftest import COMPOSE_DIR
from tests.deploy.test_compose import volume_mounts
from tests.support.procs import require_binary

PROMETHEUS_CONFIG = COMPOSE_DIR / "prometheus" / "prometheus.yml"
ALERTMANAGER_CONFIG = COMPOSE_DIR / "alertmanager" / "alertmanager.yml"
PROVISIONING = COMPOSE_DIR / "grafana" / "provisioning"
DASHBOARDS = COMPOSE_DIR / "grafana" / "dashboards"
#: Datasources every Grafana has without provisioning (the built-in annotations source).
GRAFANA_BUILTIN = {"-- Grafana --", "grafana"}


def run(command: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.integration
def test_promtool_accepts_the_prometheus_config_and_its_rule_files() -> None:
    promtool = require_binary("promtool")
    result = run([promtool, "check", "config", str(PROMETHEUS_CONFIG)])
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    rule_files = sorted((PROMETHEUS_CONFIG.parent / "rules").glob("*.yml"))
    assert rule_files, "compose/prometheus/rules/ has no rule files: run fleetobs alerts generate"
    # A rule_files glob matching nothing is only a warning: check each file was really read.
    assert f"SUCCESS: {len(rule_files)} rule files found" in output, output
    for path in rule_files:
        assert f"{path.name}\n  SUCCESS" in output, f"promtool did not check {path.name}:\n{output}"


@pytest.mark.integration
def test_amtool_accepts_the_alertmanager_config() -> None:
    amtool = require_binary("amtool")
    result = run([amtool, "check-config", str(ALERTMANAGER_CONFIG)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_alertmanager_webhooks_reach_the_sink(services: dict[str, dict[str, Any]]) -> None:
    config = yaml.safe_load(ALERTMANAGER_CONFIG.read_text(encoding="utf-8"))
    urls = {w["url"] for r in config["receivers"] for w in r.get("webhook_configs", [])}
    assert urls, "the compose Alertmanager config has webhook receivers"
    sink_port = services["webhook-sink"]["command"][-1].split("=")[1]
    for url in urls:
        assert url.startswith(f"http://webhook-sink:{sink_port}/"), url


def file_references(value: Any) -> set[str]:
    """Every ``*_file`` setting's path in an Alertmanager config, recursively."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            if key.endswith("_file") and isinstance(item, str):
                found.add(item)
            else:
                found |= file_references(item)
    elif isinstance(value, list):
        for item in value:
            found |= file_references(item)
    return found


def test_every_file_the_alertmanager_config_reads_is_mounted(services: dict[str, dict[str, Any]]) -> None:
    config = yaml.safe_load(ALERTMANAGER_CONFIG.read_text(encoding="utf-8"))
    mounts = {target: source for source, target, _ in volume_mounts(services["alertmanager"])}
    missing = []
    for path in sorted(file_references(config)):
        directory, _, name = path.rpartition("/")
        source = mounts.get(directory)
        if source is None or not (COMPOSE_DIR / source / name).is_file():
            missing.append(path)
    assert not missing, f"the compose stack provides no file for {missing}"


def provisioning_documents(kind: str) -> list[dict[str, Any]]:
    paths = sorted((PROVISIONING / kind).glob("*.y*ml"))
    assert paths, f"no Grafana {kind} provisioning files under {PROVISIONING / kind}"
    return [yaml.safe_load(p.read_text(encoding="utf-8")) for p in paths]


def datasource_uids_in(value: Any) -> set[str]:
    """Every ``datasource: {uid: ...}`` reference in a dashboard, recursively."""
    found: set[str] = set()
    if isinstance(value, dict):
        source = value.get("datasource")
        if isinstance(source, dict) and isinstance(source.get("uid"), str):
            found.add(source["uid"])
        for item in value.values():
            found |= datasource_uids_in(item)
    elif isinstance(value, list):
        for item in value:
            found |= datasource_uids_in(item)
    return found


def test_grafana_provisioning_parses_and_the_dashboards_use_provisioned_uids() -> None:
    (datasource_file,) = provisioning_documents("datasources")
    assert datasource_file["apiVersion"] == 1
    provisioned = {d["uid"]: d for d in datasource_file["datasources"]}
    assert {"prometheus", "tempo", "elasticsearch"} <= set(provisioned)
    for source in provisioned.values():
        for link in source.get("jsonData", {}).get("exemplarTraceIdDestinations", []):
            assert link["datasourceUid"] in provisioned
        for key in ("tracesToLogsV2", "tracesToMetrics", "serviceMap"):
            target = source.get("jsonData", {}).get(key)
            if target:
                assert target["datasourceUid"] in provisioned, f"{source['uid']}.{key}"
    dashboards = sorted(DASHBOARDS.glob("*.json"))
    assert dashboards
    for path in dashboards:
        data = json.loads(path.read_text(encoding="utf-8"))
        assert data["uid"].startswith("fleetobs-"), path.name
        # Template variables (``${datasource}``) resolve to a provisioned datasource of their type.
        used = {uid for uid in datasource_uids_in(data) if not uid.startswith("$")} - GRAFANA_BUILTIN
        assert used <= set(provisioned), (
            f"{path.name} uses unprovisioned datasource uids {used - set(provisioned)}"
        )


def test_grafana_datasource_urls_point_at_compose_services(services: dict[str, dict[str, Any]]) -> None:
    (datasource_file,) = provisioning_documents("datasources")
    for source in datasource_file["datasources"]:
        host_port = source["url"].split("://", 1)[1].rstrip("/")
        host, port = host_port.split(":")
        assert host in services, f"{source['name']}: {source['url']} names no compose service"
        container_ports = {str(p).rsplit(":", 1)[1] for p in services[host].get("ports", [])}
        assert port in container_ports, f"{source['name']}: {host} does not listen on {port}"


def test_grafana_dashboard_provider_reads_the_mounted_directory(services: dict[str, dict[str, Any]]) -> None:
    mounts = {source: target for source, target, _ in volume_mounts(services["grafana"])}
    assert mounts["./grafana/provisioning"] == "/etc/grafana/provisioning"
    (provider_file,) = provisioning_documents("dashboards")
    paths = {p["options"]["path"] for p in provider_file["providers"]}
    assert paths == {mounts["./grafana/dashboards"]}
    env = services["grafana"]["environment"]
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "true"
    assert env["GF_AUTH_ANONYMOUS_ORG_ROLE"] == "Viewer"


def test_filebeat_ships_the_app_containers_to_the_templated_data_stream(
    services: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    from instrumentation.conf import Settings
    from instrumentation.logging import cli as logging_cli

    config = yaml.safe_load((COMPOSE_DIR / "filebeat" / "filebeat.yml").read_text(encoding="utf-8"))
    index = config["output.elasticsearch"]["index"]
    assert index == Settings().elasticsearch_index == "logs-fleetobs-default"
    assert config["output.elasticsearch"]["hosts"] == ["http://elasticsearch:9200"]
    assert config["setup.template.enabled"] is False, "the template comes from fleetobs elasticsearch setup"

    # The index template the setup job installs must match the data stream Filebeat writes.
    import argparse

    parser = argparse.ArgumentParser()
    logging_cli.register(parser.add_subparsers())
    args = parser.parse_args(["elasticsearch", "assets", "--out", str(tmp_path)])
    assert args.func(args) == 0
    template = json.loads((tmp_path / "index-template.json").read_text(encoding="utf-8"))
    assert "data_stream" in template
    prefixes = [p.rstrip("*") for p in template["index_patterns"]]
    assert any(index.startswith(p) for p in prefixes), (index, template["index_patterns"])

    (provider,) = config["filebeat.autodiscover"]["providers"]
    (rule,) = provider["templates"]
    (label, value), *_ = rule["condition"]["equals"].items()
    label_name = label.removeprefix("docker.container.labels.")
    shipped = {name for name, s in services.items() if s.get("labels", {}).get(label_name) == value}
    assert {"shop-1", "shop-2", "worker", "nginx"} <= shipped
    (stream,) = rule["config"]
    parsers = {next(iter(p)): next(iter(p.values())) for p in stream["parsers"]}
    assert list(parsers) == ["container", "ndjson"], "unwrap Docker's JSON first, then the app's"
    assert parsers["ndjson"]["target"] == ""
    # No key expansion: labels may hold "order" and "order.total" together, which Filebeat cannot
    # expand (it would drop every field of the line); the app already nests its ECS objects.
    assert not parsers["ndjson"].get("expand_keys", False)
    for name in shipped:
        assert services[name]["logging"]["driver"] == "json-file", f"{name}: Filebeat reads json-file logs"
        if name == "nginx":
            continue  # its access line: test_nginx_access_line_is_ecs_json
        assert services[name]["environment"]["FLEETOBS_LOG_FORMAT"] == "json"


def test_nginx_access_line_is_ecs_json_with_catalogue_fields() -> None:
    """nginx writes one JSON object per request (``escape=json``) with the app's ECS names, so
    Elasticsearch indexes it like the app's lines (its own ``nginx.*`` extras are kept, unindexed)."""
    import re

    from instrumentation.catalog import LOG_FIELDS

    conf = (COMPOSE_DIR / "nginx" / "nginx.conf").read_text(encoding="utf-8")
    block = re.search(r"log_format ecs_json escape=json\s+(.*?);", conf, re.DOTALL)
    assert block, "nginx.conf defines the ecs_json log format"
    assert re.search(r"access_log /dev/stdout ecs_json;", conf)
    template = "".join(re.findall(r"'([^']*)'", block.group(1)))
    # Numbers where nginx prints numbers, text where it prints text.
    line = re.sub(r"\$(request_time|status|body_bytes_sent)\b", "1", template)
    line = re.sub(r"\$\w+", "x", line)
    document = json.loads(line)

    def flatten(value: Any, prefix: str = "") -> set[str]:
        if isinstance(value, dict):
            return {name for key, item in value.items() for name in flatten(item, f"{prefix}{key}.")}
        return {prefix.rstrip(".")}

    fields = flatten(document)
    known = {f.name for f in LOG_FIELDS}
    assert {"@timestamp", "message", "http.request.id", "service.name"} <= fields
    assert {f for f in fields if not f.startswith("nginx.")} <= known, fields - known


def test_setup_job_runs_real_cli_commands(services: dict[str, dict[str, Any]]) -> None:
    import fleetobs

    script = services["setup"]["command"][-1]
    commands = [shlex.split(part) for part in script.split("&&")]
    assert [c[:3] for c in commands] == [
        ["fleetobs", "elasticsearch", "setup"],
        ["fleetobs", "kibana", "import"],
    ]
    parser = fleetobs.build_parser()
    parsed = [parser.parse_args(c[1:]) for c in commands]
    assert parsed[0].url == "http://elasticsearch:9200"
    assert parsed[1].url == "http://kibana:5601"
    assert all(callable(p.func) for p in parsed)
    assert set(services["setup"]["depends_on"]) == {"elasticsearch", "kibana"}
    assert services["filebeat"]["depends_on"]["setup"]["condition"] == "service_completed_successfully"


def test_the_webhook_sink_answers_as_slack_and_webhook_receivers_expect() -> None:
    """The demo points Alertmanager's Slack, webhook and heartbeat receivers at the sink; Slack's
    notifier counts any reply but JSON or a plain ``ok`` as a failed notification."""
    import importlib.util
    import threading
    import urllib.request
    from http.server import ThreadingHTTPServer

    spec = importlib.util.spec_from_file_location("compose_sink", COMPOSE_DIR / "webhook-sink" / "sink.py")
    assert spec is not None
    assert spec.loader is not None
    sink = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sink)
    server = ThreadingHTTPServer(("127.0.0.1", 0), sink.Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        payload = {"receiver": "shop-slack", "alerts": [{"status": "firing", "labels": {"alertname": "X"}}]}
        request = urllib.request.Request(
            url + "/alerts", data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=5) as reply:
            assert reply.status == 200
            assert reply.read() == b"ok"
        with urllib.request.urlopen(url + "/", timeout=5) as reply:
            assert json.loads(reply.read())[-1] == payload
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
