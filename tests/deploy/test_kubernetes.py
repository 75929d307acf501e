"""The Kubernetes manifests, as ``kustomize build`` renders them, are valid and wired together.

What is validated is Kustomize's output for the base and every overlay (``kustomize build``, or
``kubectl kustomize`` which embeds the same engine): built-in kinds against the Kubernetes
OpenAPI schemas shipped by ``kubernetes-validate`` (strict: unknown fields are errors), and the
Prometheus Operator kinds against the ServiceMonitor and PrometheusRule schemas in
``tests/deploy/schemas/``. Then the wiring: Service -> pods, ServiceMonitor -> Service port,
HPA and PDB -> Deployment, probes -> container port, the OTLP endpoint -> the collector. That the
generated copies of the dashboards and rules are fresh is `fleetobs generate --check`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from tests.deploy.conftest import KUBERNETES_DIR, ROOT, kustomize_build
from tests.support.procs import require_binary

#: The oldest Kubernetes minor version the manifests promise to work on.
KUBERNETES_VERSION = "1.30.0"
SCHEMAS = Path(__file__).parent / "schemas"
CRD_SCHEMAS = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"): SCHEMAS / "monitoring.coreos.com_v1_servicemonitor.json",
    ("monitoring.coreos.com/v1", "PodMonitor"): SCHEMAS / "monitoring.coreos.com_v1_podmonitor.json",
    ("monitoring.coreos.com/v1", "PrometheusRule"): SCHEMAS / "monitoring.coreos.com_v1_prometheusrule.json",
}
WORKLOADS = {"Deployment", "Job"}


def of_kind(documents: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in documents if d["kind"] == kind]


def named(documents: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    (document,) = [d for d in of_kind(documents, kind) if d["metadata"]["name"] == name]
    return document


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    return workload["spec"]["template"]["spec"]


def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


def validate(document: dict[str, Any]) -> None:
    key = (document["apiVersion"], document["kind"])
    if key in CRD_SCHEMAS:
        schema = json.loads(CRD_SCHEMAS[key].read_text(encoding="utf-8"))
        jsonschema.Draft202012Validator(schema).validate(document)
    else:
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


def test_every_rendered_object_validates_against_its_schema(rendered: list[dict[str, Any]]) -> None:
    problems = []
    for document in rendered:
        try:
            validate(document)
        except (kubernetes_validate.ValidationError, jsonschema.ValidationError) as exc:
            problems.append(f"{document['kind']}/{document['metadata']['name']}: {exc}")
    assert not problems, "\n".join(problems)


def test_the_validators_reject_a_typo() -> None:
    """Guard against a validator that accepts anything (a missing schema, a lax mode)."""
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "x"},
        "spec": {
            "selector": {"matchLabels": {"a": "b"}},
            "template": {
                "metadata": {"labels": {"a": "b"}},
                "spec": {"containers": [{"name": "x", "image": "x:1", "readinessprobe": {}}]},
            },
        },
    }
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(deployment)
    monitor = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": {"name": "x"},
        "spec": {"selector": {}, "endpoints": [{"port": "http", "interval": "15 seconds"}]},
    }
    with pytest.raises(jsonschema.ValidationError):
        validate(monitor)
    rule = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "x"},
        "spec": {"groups": [{"name": "g", "rules": [{"alert": "A", "record": "b", "expr": "1"}]}]},
    }
    with pytest.raises(jsonschema.ValidationError):
        validate(rule)


def test_the_required_kinds_are_rendered(rendered: list[dict[str, Any]]) -> None:
    kinds = {(d["apiVersion"], d["kind"]) for d in rendered}
    for required in (
        ("apps/v1", "Deployment"),
        ("v1", "Service"),
        ("monitoring.coreos.com/v1", "ServiceMonitor"),
        ("monitoring.coreos.com/v1", "PodMonitor"),
        ("monitoring.coreos.com/v1", "PrometheusRule"),
        ("autoscaling/v2", "HorizontalPodAutoscaler"),
        ("policy/v1", "PodDisruptionBudget"),
        ("v1", "ConfigMap"),
    ):
        assert required in kinds, f"missing {required}"


def test_dashboards_are_configmaps_for_the_grafana_sidecar(rendered: list[dict[str, Any]]) -> None:
    dashboards = [
        d for d in of_kind(rendered, "ConfigMap") if d["metadata"].get("labels", {}).get("grafana_dashboard")
    ]
    assert all(d["metadata"]["labels"]["grafana_dashboard"] == "1" for d in dashboards)
    uids = set()
    for configmap in dashboards:
        ((file_name, text),) = configmap["data"].items()
        data = json.loads(text)
        uids.add(data["uid"])
        assert file_name == f"{data['uid']}.json"
        # Client-side `kubectl apply` keeps a copy in an annotation limited to 256 KiB.
        assert len(text.encode()) < 256 * 1024, f"{file_name} is too large for client-side apply"
    compose_uids = {p.stem for p in (ROOT / "compose" / "grafana" / "dashboards").glob("*.json")}
    assert uids == compose_uids, "Kubernetes and compose ship the same dashboards"
    datasources = [
        d for d in of_kind(rendered, "ConfigMap") if d["metadata"].get("labels", {}).get("grafana_datasource")
    ]
    (datasource_configmap,) = datasources
    ((_, text),) = datasource_configmap["data"].items()
    provisioned = {d["uid"] for d in yaml.safe_load(text)["datasources"]}
    from dashboards import uids as dashboard_uids

    assert {dashboard_uids.PROMETHEUS, dashboard_uids.TEMPO, dashboard_uids.ELASTICSEARCH} <= provisioned


@pytest.mark.integration
def test_the_prometheus_rule_passes_promtool(rendered: list[dict[str, Any]], tmp_path: Path) -> None:
    promtool = require_binary("promtool")
    import subprocess

    (rule,) = of_kind(rendered, "PrometheusRule")
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}), encoding="utf-8")
    result = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    alerts = {r["alert"] for g in rule["spec"]["groups"] for r in g["rules"] if "alert" in r}
    assert "Watchdog" in alerts or any(a.endswith("Watchdog") for a in alerts)
    assert rule["metadata"]["labels"]["release"], "kube-prometheus-stack selects rules by release label"


def test_service_monitor_scrapes_the_app_service(rendered: list[dict[str, Any]]) -> None:
    monitor = named(rendered, "ServiceMonitor", "shop")
    service = named(rendered, "Service", "shop")
    deployment = named(rendered, "Deployment", "shop")
    assert matches(monitor["spec"]["selector"]["matchLabels"], service["metadata"]["labels"])
    port_names = {p["name"] for p in service["spec"]["ports"]}
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] in port_names
    assert endpoint["path"] == "/metrics"
    # job = the Service label named by jobLabel = the service name the telemetry uses.
    job = service["metadata"]["labels"][monitor["spec"]["jobLabel"]]
    config = named(rendered, "ConfigMap", "shop-config")["data"]
    assert job == config["OTEL_SERVICE_NAME"] == "shop"
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    for label in monitor["spec"].get("podTargetLabels", []):
        assert label in pod_labels, f"pods lack the {label} label the ServiceMonitor copies"
    assert (
        pod_labels["environment"] == config["FLEETOBS_ENVIRONMENT"]
        or pod_labels["environment"] == "development"
    )
    assert monitor["metadata"]["labels"]["release"], "kube-prometheus-stack selects monitors by release label"


def test_service_hpa_and_pdb_select_the_app_pods(rendered: list[dict[str, Any]]) -> None:
    deployment = named(rendered, "Deployment", "shop")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert matches(deployment["spec"]["selector"]["matchLabels"], pod_labels)
    service = named(rendered, "Service", "shop")
    assert matches(service["spec"]["selector"], pod_labels)
    container_ports = {p["name"] for c in pod_spec(deployment)["containers"] for p in c.get("ports", [])}
    assert {p["targetPort"] for p in service["spec"]["ports"]} <= container_ports
    hpa = named(rendered, "HorizontalPodAutoscaler", "shop")
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "shop"}
    assert hpa["spec"]["minReplicas"] >= 2, "one replica cannot survive a drain"
    assert "replicas" not in deployment["spec"], "the HPA owns replicas; a fixed count fights it on apply"
    pdb = named(rendered, "PodDisruptionBudget", "shop")
    assert matches(pdb["spec"]["selector"]["matchLabels"], pod_labels)
    other_selected = [
        d["metadata"]["name"]
        for d in of_kind(rendered, "Deployment")
        if d is not deployment
        and matches(pdb["spec"]["selector"]["matchLabels"], d["spec"]["template"]["metadata"]["labels"])
    ]
    assert not other_selected, f"the shop PDB also selects {other_selected}"


def test_app_probes_use_the_health_endpoints(rendered: list[dict[str, Any]]) -> None:
    (container,) = pod_spec(named(rendered, "Deployment", "shop"))["containers"]
    ports = {p["name"] for p in container["ports"]}
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert container[probe]["httpGet"]["port"] in ports


def test_every_container_is_bounded_and_locked_down(rendered: list[dict[str, Any]]) -> None:
    problems = []
    for workload in (d for d in rendered if d["kind"] in WORKLOADS):
        spec = pod_spec(workload)
        name = f"{workload['kind']}/{workload['metadata']['name']}"
        if not spec.get("securityContext", {}).get("runAsNonRoot"):
            problems.append(f"{name}: runAsNonRoot")
        if spec.get("automountServiceAccountToken") is not False:
            problems.append(f"{name}: mounts a service account token it does not need")
        for container in spec["containers"]:
            where = f"{name}/{container['name']}"
            resources = container.get("resources", {})
            for kind in ("requests", "limits"):
                if not {"cpu", "memory"} <= set(resources.get(kind, {})):
                    problems.append(f"{where}: {kind} for cpu and memory")
            context = container.get("securityContext", {})
            if context.get("readOnlyRootFilesystem") is not True:
                problems.append(f"{where}: readOnlyRootFilesystem")
            if context.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{where}: allowPrivilegeEscalation")
            if context.get("capabilities", {}).get("drop") != ["ALL"]:
                problems.append(f"{where}: capabilities.drop [ALL]")
            image = container["image"]
            if ":" not in image.rsplit("/", 1)[-1] or image.endswith(":latest"):
                problems.append(f"{where}: image {image} is not pinned")
    assert not problems, "\n".join(problems)


def test_multiprocess_metrics_live_on_an_emptydir(rendered: list[dict[str, Any]]) -> None:
    deployment = named(rendered, "Deployment", "shop")
    spec = pod_spec(deployment)
    (container,) = spec["containers"]
    config = named(rendered, "ConfigMap", "shop-config")["data"]
    directory = config["PROMETHEUS_MULTIPROC_DIR"]
    volumes = {v["name"]: v for v in spec["volumes"]}
    mounted = [
        m
        for m in container["volumeMounts"]
        if directory == m["mountPath"] or directory.startswith(m["mountPath"] + "/")
    ]
    assert mounted, f"{directory} is on no volume, and the root filesystem is read-only"
    assert "emptyDir" in volumes[mounted[0]["name"]], "multiprocess files must not outlive the pod"


def test_env_sources_exist_and_secrets_are_documented(rendered: list[dict[str, Any]]) -> None:
    configmaps = {d["metadata"]["name"] for d in of_kind(rendered, "ConfigMap")}
    example = (KUBERNETES_DIR / "overlays" / "production" / "secrets.env.example").read_text(encoding="utf-8")
    documented = {
        line.split("=", 1)[0] for line in example.splitlines() if "=" in line and not line.startswith("#")
    }
    for workload in (d for d in rendered if d["kind"] in WORKLOADS):
        for container in pod_spec(workload)["containers"]:
            for source in container.get("envFrom", []):
                if "configMapRef" in source:
                    assert source["configMapRef"]["name"] in configmaps
                if "secretRef" in source:
                    assert source["secretRef"]["name"] == "shop-secrets"
    assert {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "DJANGO_SECRET_KEY"} <= documented
    assert not any(d["kind"] == "Secret" for d in rendered), (
        "secrets are created by the operator, never committed"
    )


def test_spans_go_to_the_collector_and_on_to_tempo(rendered: list[dict[str, Any]]) -> None:
    config = named(rendered, "ConfigMap", "shop-config")["data"]
    endpoint = config["OTEL_EXPORTER_OTLP_ENDPOINT"]
    host, port = endpoint.removeprefix("http://").split(":")
    collector_service = named(rendered, "Service", host)
    assert int(port) in {p["port"] for p in collector_service["spec"]["ports"]}
    collector = yaml.safe_load(named(rendered, "ConfigMap", "otel-collector")["data"]["config.yaml"])
    assert collector["receivers"]["otlp"]["protocols"]["http"]["endpoint"].endswith(f":{port}")
    pipeline = collector["service"]["pipelines"]["traces"]
    assert pipeline["receivers"] == ["otlp"]
    assert "memory_limiter" in pipeline["processors"]
    for exporter in pipeline["exporters"]:
        assert exporter in collector["exporters"]
    health_port = collector["extensions"]["health_check"]["endpoint"].rsplit(":", 1)[1]
    (container,) = pod_spec(named(rendered, "Deployment", "otel-collector"))["containers"]
    named_ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert named_ports[container["readinessProbe"]["httpGet"]["port"]] == int(health_port)


def test_production_overlay_sets_namespace_environment_and_hardening() -> None:
    documents = kustomize_build(KUBERNETES_DIR / "overlays" / "production")
    assert {d["metadata"].get("namespace") for d in documents} == {"shop"}
    config = named(documents, "ConfigMap", "shop-config")["data"]
    assert config["FLEETOBS_ENVIRONMENT"] == "production"
    assert config["SHOP_PRODUCTION"] == "1"
    deployment = named(documents, "Deployment", "shop")
    assert deployment["spec"]["template"]["metadata"]["labels"]["environment"] == "production"
    assert named(documents, "HorizontalPodAutoscaler", "shop")["spec"]["minReplicas"] >= 3


def _containers(documents: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{d['kind']}/{d['metadata']['name']}", container)
        for d in documents
        if d["kind"] in WORKLOADS
        for container in pod_spec(d)["containers"]
    ]


def test_environment_references_point_at_earlier_variables(rendered: list[dict[str, Any]]) -> None:
    """Kubernetes expands ``$(VAR)`` only from variables defined earlier in ``env`` (or from
    ``envFrom``); a later one stays as the literal text ``$(VAR)``."""
    configmaps = {d["metadata"]["name"]: d.get("data", {}) for d in of_kind(rendered, "ConfigMap")}
    for where, container in _containers(rendered):
        defined = {
            key
            for source in container.get("envFrom", [])
            if "configMapRef" in source
            for key in configmaps.get(source["configMapRef"]["name"], {})
        }
        for variable in container.get("env", []):
            for reference in re.findall(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", str(variable.get("value", ""))):
                assert reference in defined, (
                    f"{where}: {variable['name']} uses $({reference}) before it is set"
                )
            defined.add(variable["name"])


def test_the_worker_pods_task_metrics_are_scraped_as_their_service(rendered: list[dict[str, Any]]) -> None:
    worker = named(rendered, "Deployment", "shop-worker")
    monitor = named(rendered, "PodMonitor", "shop-worker")
    pod_labels = worker["spec"]["template"]["metadata"]["labels"]
    assert matches(monitor["spec"]["selector"]["matchLabels"], pod_labels)
    web = named(rendered, "Deployment", "shop")["spec"]["template"]["metadata"]["labels"]
    assert not matches(monitor["spec"]["selector"]["matchLabels"], web), "the PodMonitor picks web pods"
    (container,) = pod_spec(worker)["containers"]
    ports = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
    env = {v["name"]: v.get("value") for v in container["env"]}
    (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
    assert endpoint["path"] == "/metrics"
    assert str(ports[endpoint["port"]]) == env["FLEETOBS_METRICS_PORT"]
    # job = the worker's service name, as in the compose stack: not "shop", whose availability
    # alerts (every instance down, too few instances) must count web pods only.
    (job,) = [r["replacement"] for r in endpoint["relabelings"] if r.get("targetLabel") == "job"]
    assert job == env["OTEL_SERVICE_NAME"] == "shop-worker"
    for label in monitor["spec"].get("podTargetLabels", []):
        assert label in pod_labels, f"worker pods lack the {label} label the PodMonitor copies"
