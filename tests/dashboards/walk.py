"""Walk generated dashboard JSON: panels (rows included), targets and variables."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

Json = dict[str, Any]


def panels(dashboard: Json) -> Iterator[Json]:
    """Every panel, including rows and panels inside collapsed rows."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def prometheus_targets(dashboard: Json) -> Iterator[tuple[Json, Json]]:
    """(panel, target) for every Prometheus target."""
    for panel in panels(dashboard):
        for target in panel.get("targets", []):
            if "expr" in target:
                yield panel, target


def elasticsearch_targets(dashboard: Json) -> Iterator[tuple[Json, Json]]:
    for panel in panels(dashboard):
        for target in panel.get("targets", []):
            if target.get("datasource", {}).get("type") == "elasticsearch":
                yield panel, target


def variables(dashboard: Json) -> list[Json]:
    return list(dashboard.get("templating", {}).get("list", []))


def query_variables(dashboard: Json, datasource_type: str) -> list[Json]:
    """The query variables whose datasource is of ``datasource_type`` (``prometheus``...)."""
    return [
        v
        for v in variables(dashboard)
        if v.get("type") == "query" and v.get("datasource", {}).get("type") == datasource_type
    ]


def variable(dashboard: Json, name: str) -> Json | None:
    return next((v for v in variables(dashboard) if v.get("name") == name), None)
