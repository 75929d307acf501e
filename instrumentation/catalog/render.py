"""Render the catalogue as Markdown: ``docs/metrics.md`` is this module's output, never typed."""

from __future__ import annotations

from instrumentation.catalog.metrics import METRICS, UNMATCHED_ROUTE

_GROUPS = {
    "http": "HTTP server",
    "db": "Database",
    "cache": "Cache",
    "runtime": "Runtime and saturation",
    "tasks": "Background tasks",
    "websocket": "WebSockets",
    "pipeline": "Telemetry pipeline",
}


def _buckets(values: tuple[float, ...]) -> str:
    return ", ".join(f"{value:g}" for value in values)


def metrics_markdown() -> str:
    """The metrics reference page."""
    lines = [
        "# Metrics reference",
        "",
        "<!-- Generated from the signal catalogue by `fleetobs docs generate`. Do not edit. -->",
        "",
        "Every series the instrumentation exposes on `/metrics`. Dashboards and alert rules are generated",
        "from the same declarations, so they can only use what is listed here. Prometheus adds the `job`",
        "and `instance` labels when it scrapes; the scrape configs we ship also add `environment`.",
        "",
        f"Label values are bounded: `http_route` is the Django URL pattern (`{UNMATCHED_ROUTE}` for requests",
        "that matched none) or a route name (at most `ROUTE_NAME_LIMIT` per process, see",
        "[route names](configuration.md#route-names)), methods outside the standard nine are `_OTHER`,",
        "error types are class names, `websocket_route` is the Channels URL pattern (or the consumer",
        "class), `websocket_close_reason` is one of a fixed set of close-code classes.",
        "",
        "Under gunicorn every worker writes its own values and one scrape returns the sum over the",
        "instance's workers. The *combined as* column says how gauges merge across workers.",
    ]
    for group, title in _GROUPS.items():
        members = [m for m in METRICS if m.group == group]
        if not members:
            continue
        lines += [
            "",
            f"## {title}",
            "",
            "| Metric | Type | Labels | Combined as | Description |",
            "|---|---|---|---|---|",
        ]
        for m in members:
            exposed = m.series[0] if m.type == "counter" else m.name
            labels = ", ".join(f"`{label}`" for label in m.labels) or "—"
            combined = m.multiprocess_mode if m.type == "gauge" else "sum"
            description = m.help
            if m.buckets:
                description += f" Buckets: {_buckets(m.buckets)}."
            lines.append(f"| `{exposed}` | {m.type} | {labels} | {combined} | {description} |")
    lines.append("")
    return "\n".join(lines)
