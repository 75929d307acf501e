"""Rules: the generated rules are loaded, evaluate cleanly, produce series and reach an Alertmanager.

Against ``/api/v1/rules``: each generated rule group (from :mod:`alerting.api` for the SLO spec
given, fleet defaults otherwise) is loaded, or its file is reported with the ``rule_files``
snippet; loaded groups have every generated rule (else they are outdated); no rule, generated or
not, has ``health: err`` (its ``lastError`` is quoted). Recording rules of loaded groups must
produce series; one that does not is explained like an empty panel (:mod:`doctor.explain`).
``/api/v1/alertmanagers`` must list an Alertmanager. With ``--alertmanager``, every generated
alert is routed, for each job, through the live configuration and through the generated one
(:mod:`doctor.routing`, a dry run) and the receivers compared.
"""

from __future__ import annotations

import re
import urllib.parse
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from doctor import explain, routing, snippets
from doctor.findings import Finding, Severity
from doctor.http import BackendUnreachableError, Client, HttpError
from doctor.prometheus import Prometheus

CHECK = "Rules"


def expected_groups(slo_file: Path | None) -> dict[str, list[dict[str, Any]]]:
    """File name -> generated rule groups (as rule-file dicts)."""
    from alerting import api
    from alerting.slo import load_spec

    ctx = api.build_context(load_spec(slo_file))
    return {name: [g.to_dict() for g in groups] for name, groups in api.rule_files(ctx).items()}


def check(prometheus: Prometheus, slo_file: Path | None, now: float, window: float) -> list[Finding]:
    findings: list[Finding] = []
    live = {g["name"]: g for g in prometheus.rule_groups()}
    expected = expected_groups(slo_file)
    records: list[tuple[str, dict[str, str], str]] = []
    for file_name, groups in expected.items():
        missing = [g["name"] for g in groups if g["name"] not in live]
        if missing:
            findings.append(
                Finding(
                    CHECK,
                    Severity.ERROR,
                    f"rule file {file_name}",
                    f"not loaded: Prometheus has none of its group(s) {', '.join(missing)}",
                    "generate the rules and add them to rule_files, then reload Prometheus",
                    snippets.rule_files(),
                )
                if len(missing) == len(groups)
                else Finding(
                    CHECK,
                    Severity.ERROR,
                    f"rule file {file_name}",
                    f"partly loaded: group(s) {', '.join(missing)} missing",
                    "load the whole generated file (an older copy is loaded?)",
                    snippets.rule_files(),
                )
            )
        for group in groups:
            if group["name"] not in live:
                continue
            loaded = {r["name"] for r in live[group["name"]].get("rules", [])}
            wanted = [r.get("record") or r.get("alert") for r in group["rules"]]
            absent = [name for name in wanted if name not in loaded]
            if absent:
                findings.append(
                    Finding(
                        CHECK,
                        Severity.WARNING,
                        f"rule group {group['name']}",
                        f"outdated: {len(absent)} generated rule(s) missing ({', '.join(absent[:3])}"
                        f"{' ...' if len(absent) > 3 else ''})",
                        "regenerate the rule files with this fleetobs version and reload",
                    )
                )
            records.extend(
                (rule["name"], dict(rule.get("labels") or {}), rule.get("query", ""))
                for rule in live[group["name"]].get("rules", [])
                if rule.get("type") == "recording" and rule["name"] in wanted
            )
    findings.extend(_health(live, {g["name"] for gs in expected.values() for g in gs}))
    findings.extend(_records(prometheus, records, now, window))
    if not prometheus.alertmanagers():
        findings.append(
            Finding(
                CHECK,
                Severity.ERROR,
                "alerting",
                "Prometheus has no Alertmanager (/api/v1/alertmanagers is empty): alerts fire and "
                "notify no one",
                "add an alerting section to prometheus.yml and reload",
                snippets.alerting(),
            )
        )
    return findings


def _health(live: dict[str, dict[str, Any]], generated: set[str]) -> list[Finding]:
    findings = []
    for name, group in sorted(live.items()):
        for rule in group.get("rules", []):
            if rule.get("health") != "err" and not rule.get("lastError"):
                continue
            ours = name in generated
            findings.append(
                Finding(
                    CHECK,
                    Severity.ERROR,
                    f"rule {rule['name']} (group {name})",
                    f"fails to evaluate: {rule.get('lastError') or 'health err'}",
                    "regenerate the rules with this fleetobs version"
                    if ours
                    else f"fix the rule's expression in {group.get('file', 'its rule file')}",
                )
            )
    return findings


def _records(
    prometheus: Prometheus, records: list[tuple[str, dict[str, str], str]], now: float, window: float
) -> list[Finding]:
    """Each recording rule (name and its own labels) must have produced series."""
    if not records:
        return []
    names = "|".join(re.escape(n) for n in sorted({r[0] for r in records})).replace("\\", "\\\\")
    keys = sorted({key for _name, labels, _query in records for key in labels})
    by = ", ".join(["__name__", *keys])
    produced = [s["metric"] for s in prometheus.query(f'group by ({by}) ({{__name__=~"{names}"}})', now)]
    scope = explain.Scope(prometheus, now - window, now, [], frozenset(r[0] for r in records))
    findings = []
    for name, labels, query in sorted(records, key=lambda r: (r[0], sorted(r[1].items()))):
        wanted = {"__name__": name, **labels}
        if any(all(series.get(k) == v for k, v in wanted.items()) for series in produced):
            continue
        why = explain.explain_empty(query, scope)
        shown = name + (
            "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}" if labels else ""
        )
        findings.append(
            Finding(
                CHECK,
                why.severity,
                f"record {shown}",
                f"produces no series: {why.message}",
                why.fix,
                detail=f"expr: {' '.join(query.split())}",
            )
        )
    return findings


def alertmanager_check(
    prometheus: Prometheus, alertmanager_url: str, jobs: Sequence[str], slo_file: Path | None
) -> list[Finding]:
    """Route every generated alert through the live Alertmanager config and the generated one."""
    from alerting import alertmanager as generated_config
    from alerting import api
    from alerting.slo import load_spec

    client = Client(alertmanager_url)
    try:
        status = client.get("/api/v2/status")
    except HttpError as exc:
        raise BackendUnreachableError(
            f"{exc.url} answered {exc.status}; is {alertmanager_url} an Alertmanager?"
        ) from None
    original = (status or {}).get("config", {}).get("original")
    if not isinstance(original, str):
        raise BackendUnreachableError(
            f"{alertmanager_url}/api/v2/status has no config.original: not an Alertmanager?"
        )
    live = yaml.safe_load(original) or {}
    spec = load_spec(slo_file)
    expected = generated_config.config(spec)
    findings: list[Finding] = []
    mismatches: dict[tuple[str, str], list[str]] = defaultdict(list)
    for alert in api.alerts(api.build_context(spec)):
        for job in jobs or ["JOB"]:
            labels = {"alertname": alert.alert, "severity": alert.severity, "job": job, **alert.labels}
            want = routing.receivers(expected, labels)
            have = routing.receivers(live, labels)
            if want != have:
                mismatches[(", ".join(want), ", ".join(have))].append(f"{alert.alert} (job {job})")
    for (wanted, reached), alerts in sorted(mismatches.items()):
        findings.append(
            Finding(
                CHECK,
                Severity.ERROR,
                f"Alertmanager routing to {wanted}",
                f"{len(alerts)} alert(s) reach {reached} instead of {wanted} (e.g. {', '.join(alerts[:3])})",
                "load the generated alertmanager.yml (fleetobs alerts generate) or add its routes",
            )
        )
    configured = {urllib.parse.urlsplit(u).netloc for u in prometheus.alertmanagers()}
    if configured and urllib.parse.urlsplit(alertmanager_url).netloc not in configured:
        findings.append(
            Finding(
                CHECK,
                Severity.INFO,
                "alerting",
                f"Prometheus sends alerts to {', '.join(sorted(configured))}, not to {alertmanager_url} "
                "(fine if that is the same Alertmanager under another name)",
            )
        )
    return findings
