"""The compose stack is exact by construction: schema-valid, pinned, fully wired, every mount present.

Docker does not run here, so each promise ``docker compose up`` relies on is checked on the file:
the Compose Specification schema, pinned image tags, bind mounts that exist in the repository,
healthchecks and the ``depends_on`` conditions that wait for them, resource limits, and the
wiring between services (nginx upstreams, Prometheus targets, the OTLP endpoint, ports).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.conftest import COMPOSE_DIR, COMPOSE_FILE, ROOT

#: Services without an in-container healthcheck, and why. Anything else must have one.
NO_HEALTHCHECK = {
    "tempo": "distroless image: no shell or HTTP client inside; smoke.sh waits for :3200/ready",
    "loadgen": "a leaf: nothing depends on it, and Locust headless serves no HTTP",
}
#: Absolute host paths a service may bind, read-only (Filebeat reading the containers' logs).
HOST_BINDS = {
    "filebeat": {"/var/lib/docker/containers", "/var/run/docker.sock"},
}
#: name:tag with an exact version tag (digits and dots, optional leading v and variant suffix).
PINNED_IMAGE = re.compile(r"^[a-z0-9.\-/]+:v?\d+\.\d+(\.\d+)?(-[a-z0-9.\-]+)?$")


def one_shot(service: dict[str, Any]) -> bool:
    return service.get("restart") == "no"


def volume_mounts(service: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """(source, target, read_only) of every volume entry, short or long syntax."""
    mounts = []
    for entry in service.get("volumes", []):
        if isinstance(entry, str):
            parts = entry.split(":")
            source, target = parts[0], parts[1]
            read_only = len(parts) > 2 and "ro" in parts[2].split(",")
        else:
            source, target, read_only = entry["source"], entry["target"], bool(entry.get("read_only"))
        mounts.append((source, target, read_only))
    return mounts


def is_bind(source: str) -> bool:
    return source.startswith((".", "/", "~"))


def test_validates_against_the_compose_specification() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--builtin-schema",
            "vendor.compose-spec",
            str(COMPOSE_FILE),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_image_is_pinned_to_an_exact_version(services: dict[str, dict[str, Any]]) -> None:
    unpinned = {
        name: service.get("image")
        for name, service in services.items()
        if not PINNED_IMAGE.match(service.get("image", "")) or service.get("image", "").endswith(":latest")
    }
    assert not unpinned, f"images must carry an exact version tag: {unpinned}"


def test_built_images_come_from_the_repository_dockerfile(services: dict[str, dict[str, Any]]) -> None:
    built = {name: s for name, s in services.items() if "build" in s}
    assert built, "the shop image is built from this repository"
    for name, service in built.items():
        build = service["build"]
        context = (COMPOSE_DIR / build["context"]).resolve()
        assert context == ROOT, f"{name}: build context must be the repository root"
        assert (context / build["dockerfile"]).is_file(), f"{name}: {build['dockerfile']} is missing"
    images = {s["image"] for s in built.values()}
    assert len(images) == 1, f"one image for every service that builds it, got {images}"


def test_every_bind_mount_exists_in_the_repository(services: dict[str, dict[str, Any]]) -> None:
    problems = []
    for name, service in services.items():
        for source, target, read_only in volume_mounts(service):
            if not is_bind(source):
                continue
            if source.startswith("/"):
                if source not in HOST_BINDS.get(name, set()):
                    problems.append(f"{name}: unexpected host path {source}")
                elif not read_only:
                    problems.append(f"{name}: host path {source} must be mounted read-only")
                continue
            path = (COMPOSE_DIR / source).resolve()
            if not path.exists():
                problems.append(f"{name}: {source} -> {target} does not exist ({path})")
            elif ROOT not in path.parents:
                problems.append(f"{name}: {source} is outside the repository")
            elif not read_only:
                problems.append(f"{name}: repository file {source} should be mounted read-only")
    assert not problems, "\n".join(problems)


def test_named_volumes_are_declared_and_used(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    declared = set(compose.get("volumes") or {})
    used = {source for s in services.values() for source, _, _ in volume_mounts(s) if not is_bind(source)}
    assert used == declared, f"declared but unused: {declared - used}; used but undeclared: {used - declared}"
    assert used, "state lives in named volumes"


def test_long_running_services_have_healthchecks(services: dict[str, dict[str, Any]]) -> None:
    missing = [
        name
        for name, service in services.items()
        if not one_shot(service) and "healthcheck" not in service and name not in NO_HEALTHCHECK
    ]
    assert not missing, f"services without a healthcheck: {missing}"
    for name in NO_HEALTHCHECK:
        assert "healthcheck" not in services[name], (
            f"{name} has a healthcheck now: drop it from NO_HEALTHCHECK"
        )
    for name, service in services.items():
        if "healthcheck" in service:
            test = service["healthcheck"]["test"]
            assert test[0] in {"CMD", "CMD-SHELL"}, f"{name}: healthcheck must use CMD or CMD-SHELL"


def test_depends_on_waits_for_the_right_condition(services: dict[str, dict[str, Any]]) -> None:
    problems = []
    for name, service in services.items():
        depends = service.get("depends_on", {})
        if isinstance(depends, list):
            problems.append(f"{name}: depends_on must use the long form with a condition")
            continue
        for dependency, spec in depends.items():
            if dependency not in services:
                problems.append(f"{name}: depends on unknown service {dependency}")
                continue
            target = services[dependency]
            condition = spec.get("condition")
            if one_shot(target):
                expected = "service_completed_successfully"
            elif "healthcheck" in target:
                expected = "service_healthy"
            else:
                expected = "service_started"
            if condition != expected:
                problems.append(f"{name} -> {dependency}: condition {condition!r}, expected {expected!r}")
    assert not problems, "\n".join(problems)
    assert (
        sum(
            spec.get("condition") == "service_healthy"
            for s in services.values()
            for spec in s.get("depends_on", {}).values()
        )
        >= 10
    )


def test_dependency_graph_has_no_cycles(services: dict[str, dict[str, Any]]) -> None:
    state: dict[str, str] = {}

    def visit(name: str, path: tuple[str, ...]) -> None:
        if state.get(name) == "done":
            return
        assert state.get(name) != "visiting", f"dependency cycle: {' -> '.join((*path, name))}"
        state[name] = "visiting"
        for dependency in services[name].get("depends_on", {}):
            visit(dependency, (*path, name))
        state[name] = "done"

    for name in services:
        visit(name, ())


def test_every_service_has_cpu_and_memory_limits(services: dict[str, dict[str, Any]]) -> None:
    missing = []
    for name, service in services.items():
        limits = service.get("deploy", {}).get("resources", {}).get("limits", {})
        if not {"cpus", "memory"} <= set(limits):
            missing.append(name)
    assert not missing, f"services without deploy.resources.limits cpus and memory: {missing}"


def test_published_ports_listen_on_loopback_only(services: dict[str, dict[str, Any]]) -> None:
    exposed = [
        f"{name}: {port}"
        for name, service in services.items()
        for port in service.get("ports", [])
        if not str(port).startswith("127.0.0.1:")
    ]
    assert not exposed, f"Elasticsearch runs without security; publish on 127.0.0.1 only: {exposed}"


def published(services: dict[str, dict[str, Any]]) -> dict[int, str]:
    """Host port -> service."""
    ports = {}
    for name, service in services.items():
        for port in service.get("ports", []):
            ports[int(str(port).split(":")[1])] = name
    return ports


def app_replicas(services: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {name: s for name, s in services.items() if s.get("command", [None])[0] == "gunicorn"}


def test_at_least_two_app_replicas_with_the_telemetry_settings(services: dict[str, dict[str, Any]]) -> None:
    replicas = app_replicas(services)
    assert len(replicas) >= 2, f"the fleet needs two or more app replicas, got {sorted(replicas)}"
    for name, service in replicas.items():
        env = service["environment"]
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://tempo:4318", name
        assert env["OTEL_SERVICE_NAME"] == "shop", name
        assert env["FLEETOBS_ENVIRONMENT"] == "demo", name
        assert env["FLEETOBS_LOG_FORMAT"] == "json", name
        assert env["DATABASE_URL"].startswith("postgres://"), name
        assert "@postgres:5432/" in env["DATABASE_URL"], name
        assert env["REDIS_URL"].startswith("redis://redis:6379/"), name
        assert env["CELERY_BROKER_URL"].startswith("redis://redis:6379/"), name
        assert env["SHOP_BIND"].endswith(":8000"), name
        assert "/readyz" in " ".join(service["healthcheck"]["test"]), name
    worker = services["worker"]
    assert worker["command"][0] == "celery"
    assert (
        worker["environment"]["CELERY_BROKER_URL"]
        == next(iter(replicas.values()))["environment"]["CELERY_BROKER_URL"]
    )


def test_nginx_balances_over_exactly_the_app_replicas(services: dict[str, dict[str, Any]]) -> None:
    conf = (COMPOSE_DIR / "nginx" / "nginx.conf").read_text(encoding="utf-8")
    upstream = re.search(r"upstream\s+shop\s*\{(.*?)\}", conf, re.DOTALL)
    assert upstream, "nginx.conf defines the shop upstream"
    servers = set(re.findall(r"^\s*server\s+([\w.-]+:\d+)", upstream.group(1), re.MULTILINE))
    assert servers == {f"{name}:8000" for name in app_replicas(services)}
    assert "proxy_pass http://shop;" in conf
    assert re.search(r"location = /metrics\s*\{\s*return 404;", conf), "/metrics is not served through the LB"
    assert set(services["nginx"]["depends_on"]) == set(app_replicas(services))


def test_prometheus_scrapes_each_replica_with_the_demo_labels(services: dict[str, dict[str, Any]]) -> None:
    import yaml

    config = yaml.safe_load((COMPOSE_DIR / "prometheus" / "prometheus.yml").read_text(encoding="utf-8"))
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    shop = jobs["shop"]
    targets = {t for sc in shop["static_configs"] for t in sc["targets"]}
    assert targets == {f"{name}:8000" for name in app_replicas(services)}
    # The worker is its own job, named as its telemetry names it: the web replicas'
    # availability alerts (sum by (job) (up) == 0, too few instances) must not count it.
    worker = jobs["shop-worker"]
    assert {t for sc in worker["static_configs"] for t in sc["targets"]} == {"worker:9100"}
    assert services["worker"]["environment"]["FLEETOBS_METRICS_PORT"] == "9100"
    assert services["worker"]["environment"]["OTEL_SERVICE_NAME"] == "shop-worker"
    for job in jobs.values():
        for static in job["static_configs"]:
            assert static["labels"]["environment"] == "demo", job["job_name"]
            for target in static["targets"]:
                host = target.split(":")[0]
                assert host == "localhost" or host in services, f"{job['job_name']}: no service {host}"
    assert config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == ["alertmanager:9093"]


def test_prometheus_runs_with_exemplars_and_the_remote_write_receiver(
    services: dict[str, dict[str, Any]],
) -> None:
    command = services["prometheus"]["command"]
    assert "--enable-feature=exemplar-storage" in command
    assert "--web.enable-remote-write-receiver" in command
    mounts = {target: source for source, target, _ in volume_mounts(services["prometheus"])}
    assert mounts["/etc/prometheus/prometheus.yml"] == "./prometheus/prometheus.yml"
    assert "--config.file=/etc/prometheus/prometheus.yml" in command
    # rule_files are relative to the config file, so this mount is where they are read from.
    assert mounts["/etc/prometheus/rules"] == "./prometheus/rules"


def test_alertmanager_loads_the_generated_config(services: dict[str, dict[str, Any]]) -> None:
    service = services["alertmanager"]
    mounts = {target: source for source, target, _ in volume_mounts(service)}
    assert mounts["/etc/alertmanager/alertmanager.yml"] == "./alertmanager/alertmanager.yml"
    assert "--config.file=/etc/alertmanager/alertmanager.yml" in service["command"]
    assert "webhook-sink" in services


def test_tempo_receives_otlp_and_writes_service_graphs_to_prometheus(
    services: dict[str, dict[str, Any]],
) -> None:
    import yaml

    service = services["tempo"]
    mounts = {target: source for source, target, _ in volume_mounts(service)}
    (config_flag,) = [c for c in service["command"] if c.startswith("-config.file=")]
    config_path = config_flag.split("=", 1)[1]
    assert mounts[config_path] == "./tempo/tempo.yaml"
    config = yaml.safe_load((COMPOSE_DIR / "tempo" / "tempo.yaml").read_text(encoding="utf-8"))
    protocols = config["distributor"]["receivers"]["otlp"]["protocols"]
    assert protocols["http"]["endpoint"] == "0.0.0.0:4318"
    assert protocols["grpc"]["endpoint"] == "0.0.0.0:4317"
    (remote_write,) = config["metrics_generator"]["storage"]["remote_write"]
    assert remote_write["url"] == "http://prometheus:9090/api/v1/write"
    assert remote_write["send_exemplars"] is True
    assert "service-graphs" in config["overrides"]["defaults"]["metrics_generator"]["processors"]
    assert config["storage"]["trace"]["backend"] == "local"
    data_mount = next(target for source, target, _ in volume_mounts(service) if not is_bind(source))
    for path in (
        config["storage"]["trace"]["wal"]["path"],
        config["storage"]["trace"]["local"]["path"],
        config["metrics_generator"]["storage"]["path"],
    ):
        assert Path(path).is_relative_to(data_mount), f"{path} is not on the {data_mount} volume"


def test_published_ports_match_the_urls_in_the_docs_and_smoke_script(
    services: dict[str, dict[str, Any]],
) -> None:
    ports = published(services)
    expected = {
        8080: "nginx",
        9090: "prometheus",
        9093: "alertmanager",
        9099: "webhook-sink",
        3000: "grafana",
        3200: "tempo",
        9200: "elasticsearch",
        5601: "kibana",
    }
    for port, name in expected.items():
        assert ports.get(port) == name, f"port {port} should be published by {name}"
    smoke = (COMPOSE_DIR / "smoke.sh").read_text(encoding="utf-8")
    readme = (COMPOSE_DIR / "README.md").read_text(encoding="utf-8")
    for port in expected:
        assert f"http://127.0.0.1:{port}" in smoke, f"smoke.sh does not use port {port}"
        assert f"http://localhost:{port}" in readme, f"compose/README.md does not list port {port}"


@pytest.mark.parametrize("service", ["shop-1", "worker", "migrate", "setup", "loadgen"])
def test_app_containers_run_as_the_image_user(services: dict[str, dict[str, Any]], service: str) -> None:
    assert "user" not in services[service], "the shop image runs as uid 10001; do not override it"


def test_the_elastic_stack_runs_one_version(services: dict[str, dict[str, Any]]) -> None:
    versions = {services[name]["image"].rsplit(":", 1)[1] for name in ("elasticsearch", "kibana", "filebeat")}
    assert len(versions) == 1, f"Elasticsearch, Kibana and Filebeat must match: {versions}"
    # The elasticsearch Python client 9.x (the [elasticsearch] extra) only talks to 9.x servers.
    assert next(iter(versions)).startswith("9.")
