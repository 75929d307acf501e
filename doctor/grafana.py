"""Grafana: the generated dashboards are there, up to date, and their datasources exist.

For each generated dashboard, ``GET /api/dashboards/uid/<uid>``: missing (404) is an error; a
dashboard whose queries differ from the generated ones is outdated (Grafana's own ``version``
counts saves, so the queries are what is compared). Every datasource uid the generated
dashboards name (``prometheus``, ``elasticsearch``...) must exist:
``GET /api/datasources/uid/<uid>``. Authentication is a service-account token (``Bearer``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from doctor.expand import Json, panels
from doctor.findings import Finding, Severity
from doctor.http import BackendUnreachableError, Client, HttpError

CHECK = "Grafana"
UPLOAD = "fleetobs dashboards upload --url URL (or provision the generated files)"


def client(url: str, token: str | None, timeout: float) -> Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return Client(url, headers, timeout)


def queries(dashboard: Mapping[str, Any]) -> set[tuple[str, str]]:
    """(panel title, expression or query) of every target."""
    found = set()
    for panel in panels(dict(dashboard)):
        for target in panel.get("targets", []):
            text = target.get("expr") or target.get("query") or ""
            found.add((str(panel.get("title")), str(text)))
    return found


def datasource_uids(dashboard: Json) -> set[str]:
    found: set[str] = set()

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            source = node.get("datasource")
            if isinstance(source, dict):
                uid = str(source.get("uid", ""))
                if (
                    uid
                    and not uid.startswith(("$", "-- "))
                    and source.get("type") not in ("grafana", "datasource")
                ):
                    found.add(uid)
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(dashboard)
    return found


def variable_uids(dashboards: Mapping[str, Json]) -> set[str]:
    """Default uids of the dashboards' data source pickers."""
    found = set()
    for dashboard in dashboards.values():
        for var in dashboard.get("templating", {}).get("list", []):
            value = var.get("current", {}).get("value") if var.get("type") == "datasource" else None
            if isinstance(value, str) and value and not value.startswith("$"):
                found.add(value)
    return found


def _missing(grafana: Client, uid: str) -> bool:
    return _get(grafana, f"/api/datasources/uid/{uid}") is None


def _get(grafana: Client, path: str) -> Any | None:
    try:
        return grafana.get(path)
    except HttpError as exc:
        if exc.status == 404:
            return None
        if exc.status in (401, 403):
            raise BackendUnreachableError(
                f"Grafana refused {path} ({exc.status}): check --grafana-token"
            ) from None
        raise BackendUnreachableError(f"Grafana answered {exc.status} to {path}") from None


def check(grafana: Client, dashboards: Mapping[str, Json]) -> list[Finding]:
    health = _get(grafana, "/api/health")
    if not isinstance(health, dict) or "database" not in health:
        raise BackendUnreachableError(f"{grafana.base}/api/health does not answer like Grafana")
    findings: list[Finding] = []
    uids: set[str] = set()
    for dashboard in sorted(dashboards.values(), key=lambda d: str(d["uid"])):
        uid, title = str(dashboard["uid"]), str(dashboard.get("title"))
        uids |= datasource_uids(dashboard)
        live = _get(grafana, f"/api/dashboards/uid/{uid}")
        if live is None:
            findings.append(
                Finding(
                    CHECK,
                    Severity.ERROR,
                    f"dashboard {title}",
                    f"missing (no dashboard with uid {uid})",
                    f"load it: {UPLOAD}",
                )
            )
            continue
        current = live.get("dashboard", {})
        generated, installed = queries(dashboard), queries(current)
        if generated != installed:
            differ = len(generated ^ installed)
            version = current.get("version", "?")
            findings.append(
                Finding(
                    CHECK,
                    Severity.WARNING,
                    f"dashboard {title}",
                    f"outdated: Grafana's copy (version {version}) differs from the generated one in "
                    f"{differ} quer{'y' if differ == 1 else 'ies'}",
                    f"load this fleetobs version's: {UPLOAD}",
                )
            )
    provision = (
        "provision the generated datasources (fleetobs dashboards generate --provisioning DIR) "
        "or give your datasource this uid"
    )
    picker = sorted(uid for uid in variable_uids(dashboards) - uids if _missing(grafana, uid))
    findings.extend(
        Finding(
            CHECK,
            Severity.WARNING,
            f"datasource {uid}",
            "missing: the dashboards' data source picker defaults to this uid, so they fall back "
            "to Grafana's default data source and exemplar links to traces break",
            provision,
        )
        for uid in picker
    )
    findings.extend(
        Finding(
            CHECK,
            Severity.ERROR,
            f"datasource {uid}",
            "missing: the dashboards name a datasource with this uid and Grafana has none, so "
            "their panels fail",
            provision,
        )
        for uid in sorted(uids)
        if _missing(grafana, uid)
    )
    return findings
