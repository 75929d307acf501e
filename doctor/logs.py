"""Logs: the Elasticsearch side of the fleet, read-only.

Against a real Elasticsearch API: the index template covering ``logs-fleetobs-*`` exists
(``GET _index_template``), is a data-stream template, and maps every catalogue log field with the
catalogue's type (:data:`instrumentation.catalog.LOG_FIELDS`); the ILM policy the template names
exists (``GET _ilm/policy/<name>``); a data stream exists (``GET _data_stream/logs-fleetobs-*``);
and each service in scope has logged in the last 15 minutes, its access lines carrying
``trace.id`` (one ``_search`` with a terms aggregation on ``service.name``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from doctor.findings import Finding, Severity
from doctor.http import BackendUnreachableError, Client, HttpError
from instrumentation.catalog import LOG_FIELDS

CHECK = "Logs"
INDEX_PATTERN = "logs-fleetobs-*"
TEMPLATE = "logs-fleetobs"
RECENT = "15m"
SETUP = "fleetobs elasticsearch setup --url URL"


def client(url: str, api_key: str | None, timeout: float) -> Client:
    headers = {"Authorization": f"ApiKey {api_key}"} if api_key else {}
    return Client(url, headers, timeout)


def flatten(properties: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Mapping ``properties`` as {dotted field: type} (objects are walked, not listed)."""
    out: dict[str, str] = {}
    for name, spec in properties.items():
        path = f"{prefix}{name}"
        if "properties" in spec and "type" not in spec:
            out.update(flatten(spec["properties"], f"{path}."))
        else:
            out[path] = str(spec.get("type", "object"))
    return out


def _get(es: Client, path: str) -> Any | None:
    try:
        return es.get(path)
    except HttpError as exc:
        if exc.status == 404:
            return None
        if exc.status in (401, 403):
            raise BackendUnreachableError(
                f"Elasticsearch refused {path} ({exc.status}): check --elasticsearch-api-key"
            ) from None
        raise BackendUnreachableError(f"Elasticsearch answered {exc.status} to {path}") from None


def check(es: Client, services: Sequence[str]) -> list[Finding]:
    info = _get(es, "/")
    if not isinstance(info, dict) or "version" not in info:
        raise BackendUnreachableError(f"{es.base} does not answer like Elasticsearch")
    findings: list[Finding] = []
    answer = _get(es, f"/_index_template/{TEMPLATE}") or {}
    templates = answer.get("index_templates", [])
    if not templates:
        findings.append(
            Finding(
                CHECK,
                Severity.ERROR,
                f"index template {TEMPLATE}",
                "missing: log lines get dynamic mappings and no retention",
                f"install it: {SETUP}",
            )
        )
        return findings
    template = templates[0].get("index_template", {})
    if "data_stream" not in template:
        findings.append(
            Finding(
                CHECK,
                Severity.ERROR,
                f"index template {TEMPLATE}",
                "is not a data-stream template: the shipper's logs-fleetobs-* writes create plain indices",
                f"reinstall it: {SETUP}",
            )
        )
    findings.extend(_mappings(template))
    policy = _policy_name(template)
    if not policy:
        findings.append(
            Finding(
                CHECK,
                Severity.WARNING,
                f"index template {TEMPLATE}",
                "names no ILM policy (index.lifecycle.name): logs are kept forever",
                f"reinstall it: {SETUP}",
            )
        )
    elif _get(es, f"/_ilm/policy/{policy}") is None:
        findings.append(
            Finding(
                CHECK,
                Severity.ERROR,
                f"ILM policy {policy}",
                "missing (the template names it): indices never roll over nor expire",
                f"install it: {SETUP}",
            )
        )
    streams = (_get(es, f"/_data_stream/{INDEX_PATTERN}") or {}).get("data_streams", [])
    if not streams:
        findings.append(
            Finding(
                CHECK,
                Severity.WARNING,
                f"data stream {INDEX_PATTERN}",
                "none exists: no service has shipped a log line yet",
                "set ELASTICSEARCH_URL on the services (or ship with Filebeat)",
            )
        )
        return findings
    findings.extend(_recent(es, services))
    return findings


def _policy_name(template: Mapping[str, Any]) -> str:
    settings = template.get("template", {}).get("settings", {})
    flat = settings.get("index.lifecycle.name")
    nested = settings.get("index", {}).get("lifecycle", {}).get("name")
    return str(flat or nested or "")


def _mappings(template: Mapping[str, Any]) -> list[Finding]:
    mapped = flatten(template.get("template", {}).get("mappings", {}).get("properties", {}))
    missing = [f.name for f in LOG_FIELDS if f.name not in mapped]
    wrong = [
        f"{f.name} is {mapped[f.name]}, not {f.type}"
        for f in LOG_FIELDS
        if f.name in mapped and mapped[f.name] != f.type
    ]
    findings = []
    if missing:
        findings.append(
            Finding(
                CHECK,
                Severity.WARNING,
                f"index template {TEMPLATE}",
                f"does not map {len(missing)} "
                f"catalogue field(s): {', '.join(missing[:6])}{' ...' if len(missing) > 6 else ''}",
                f"reinstall the template of this fleetobs version: {SETUP}",
            )
        )
    if wrong:
        findings.append(
            Finding(
                CHECK,
                Severity.WARNING,
                f"index template {TEMPLATE}",
                f"maps fields with other types than the catalogue: {'; '.join(wrong[:4])}",
                f"reinstall the template: {SETUP}",
            )
        )
    return findings


def _recent(es: Client, services: Sequence[str]) -> list[Finding]:
    body = {
        "size": 0,
        "query": {"range": {"@timestamp": {"gte": f"now-{RECENT}"}}},
        "aggs": {
            "services": {
                "terms": {"field": "service.name", "size": 500},
                "aggs": {
                    "access": {
                        "filter": {"term": {"event.dataset": "django.access"}},
                        "aggs": {"traced": {"filter": {"exists": {"field": "trace.id"}}}},
                    }
                },
            }
        },
    }
    try:
        answer = es.post_json(f"/{INDEX_PATTERN}/_search", body)
    except HttpError as exc:
        raise BackendUnreachableError(
            f"Elasticsearch answered {exc.status} to a search of {INDEX_PATTERN}"
        ) from None
    buckets = {b["key"]: b for b in answer.get("aggregations", {}).get("services", {}).get("buckets", [])}
    findings = []
    for service in services:
        bucket = buckets.get(service)
        if not bucket or not bucket.get("doc_count"):
            findings.append(
                Finding(
                    CHECK,
                    Severity.WARNING,
                    f"service {service}",
                    f"no log line in the last {RECENT}",
                    "check the service's ELASTICSEARCH_URL (or its log shipper) and its pipeline metrics",
                )
            )
            continue
        access = bucket.get("access", {})
        if access.get("doc_count") and not access.get("traced", {}).get("doc_count"):
            findings.append(
                Finding(
                    CHECK,
                    Severity.WARNING,
                    f"service {service}",
                    f"none of its {access['doc_count']} access lines of the last {RECENT} carries trace.id: "
                    "log-to-trace links are dead",
                    "enable tracing (OTEL_EXPORTER_OTLP_ENDPOINT) on the service",
                )
            )
    return findings
