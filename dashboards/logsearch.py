"""Elasticsearch queries for log panels, built only from catalogue log fields.

Every field a log panel filters, groups or shows goes through :func:`field`, which raises
``KeyError`` for a name not in :data:`instrumentation.catalog.LOG_FIELDS` (so the panels only
use fields the index template maps). Queries are Lucene strings; the dashboard variables are
matched as regular expressions (``service.name:/${job:regex}/``) so Grafana's ``All`` values
(``.+``, and ``.*`` for the environment) match every service, as they do in PromQL. The
Prometheus ``job`` label is the service name, which logs carry as ``service.name``.

Log lines carry no Prometheus ``instance``: they name the machine or container that wrote them
(``host.name``), and a scrape address (``10.1.2.3:8000``) cannot be turned into that name. So
log dashboards narrow by host with their own variable, :func:`host_variable`, whose choices
come from Elasticsearch (the ``host.name`` values of the selected services' lines).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from grafanalib import core as gl

from dashboards.panels import ELASTICSEARCH_DS
from dashboards.variables import multi_select
from instrumentation.catalog import log_field

TIME_FIELD = "@timestamp"


def field(name: str) -> str:
    """``name`` if it is a catalogue log field; ``KeyError`` otherwise."""
    return log_field(name).name


def _escape(name: str) -> str:
    return name.replace("@", "\\@") if name.startswith("@") else name


def term(name: str, *values: str) -> str:
    """``name:(a OR b)``: the field equals one of ``values``."""
    if not values:
        raise ValueError(f"term({name!r}) needs at least one value")
    joined = " OR ".join(f'"{v}"' for v in values)
    return f"{_escape(field(name))}:({joined})"


def regex(name: str, pattern: str) -> str:
    """``name:/pattern/``, e.g. a dashboard variable formatted as a regex."""
    return f"{_escape(field(name))}:/{pattern}/"


def exists(name: str) -> str:
    """The document has the field."""
    return f"_exists_:{field(name)}"


def at_least(name: str, value: int) -> str:
    return f"{_escape(field(name))}:>={value}"


def _services() -> tuple[str, str]:
    return regex("service.name", "${job:regex}"), regex("service.environment", "${environment:regex}")


def scoped(*clauses: str) -> str:
    """``clauses`` restricted to the dashboard's ``$job``, ``$environment`` and ``$host``."""
    return " AND ".join((*_services(), regex("host.name", "${host:regex}"), *clauses))


def terms_variable(name: str, label: str, field_name: str, query: str, *, size: int = 500) -> gl.Template:
    """A multi-select over the values a log field takes in the lines ``query`` matches.

    Grafana's Elasticsearch query variable: a terms aggregation over the dashboard's time range,
    in the same style as the Prometheus scope variables, so the panels match it the same way
    (``${name:regex}``).
    """
    definition = {"find": "terms", "field": field(field_name), "query": query, "size": size}
    return multi_select(name, label, json.dumps(definition, sort_keys=True), ELASTICSEARCH_DS)


def host_variable() -> gl.Template:
    """``$host``: the machines or containers that logged for the selected services."""
    return terms_variable("host", "Host", "host.name", " AND ".join(_services()))


def _base(ref: str, query: str) -> dict[str, Any]:
    return {"datasource": ELASTICSEARCH_DS, "query": query, "refId": ref, "timeField": field(TIME_FIELD)}


def count_by(ref: str, query: str, group_by: Sequence[str], *, size: int = 10) -> dict[str, Any]:
    """Documents over time, one series per value of each ``group_by`` field."""
    aggs: list[dict[str, Any]] = [
        {
            "field": field(name),
            "id": str(i),
            "settings": {"min_doc_count": "1", "order": "desc", "orderBy": "_count", "size": str(size)},
            "type": "terms",
        }
        for i, name in enumerate(group_by, start=2)
    ]
    aggs.append(
        {
            "field": field(TIME_FIELD),
            "id": str(len(group_by) + 2),
            "settings": {"interval": "auto", "min_doc_count": "0", "trimEdges": "0"},
            "type": "date_histogram",
        }
    )
    return {**_base(ref, query), "alias": "", "bucketAggs": aggs, "metrics": [{"id": "1", "type": "count"}]}


def log_lines(ref: str, query: str, *, limit: int = 100) -> dict[str, Any]:
    """Matching log lines, newest first (for a logs panel)."""
    return {
        **_base(ref, query),
        "bucketAggs": [],
        "metrics": [{"id": "1", "settings": {"limit": str(limit)}, "type": "logs"}],
    }


def documents(ref: str, query: str, *, size: int = 100) -> dict[str, Any]:
    """Matching documents as rows (for a table)."""
    return {
        **_base(ref, query),
        "bucketAggs": [],
        "metrics": [{"id": "1", "settings": {"size": str(size)}, "type": "raw_data"}],
    }
