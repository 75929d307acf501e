"""The configurations measured: bare Django, this project's variants, and the anchor stack.

Each configuration is a name the Django settings of :mod:`benchmarks.project.settings` read
from ``FLEETOBS_BENCH_CONFIG`` (settings are process-global, so every configuration runs in a
process of its own). ``ours`` is the ``FLEET_OBSERVABILITY`` dict (``None``: not installed);
``anchors`` names the parts of the stack this project replaces, each wired as its own
documentation says:

``prometheus``  django-prometheus: ``PrometheusBeforeMiddleware`` first and
                ``PrometheusAfterMiddleware`` last, its database engine and cache backend.
``otel``        OpenTelemetry's ``DjangoInstrumentor`` with an SDK ``TracerProvider`` and a
                ``BatchSpanProcessor``.
``otel-db``     OpenTelemetry's per-query instrumentation for the database driver
                (``SQLite3Instrumentor``, from opentelemetry-instrumentation-sqlite3): Django's
                instrumentation records no query spans by itself.
``structlog``   django-structlog's ``RequestMiddleware``, structlog's JSON renderer through the
                standard library's ``ProcessorFormatter``; the views' application log lines
                go through structlog (``structlog.get_logger``), as its documentation shows.

Where spans go (``export``): ``sink`` (default) encodes every batch as OTLP protobuf in
process and drops it (:mod:`benchmarks.sinks`); ``http`` and ``grpc`` send it over OTLP/HTTP or
OTLP/gRPC to a receiver in another process (:mod:`benchmarks.receiver`), the real send path:
connection handling, batching, and the export thread competing with the request threads.

``minimal`` is a reference, not a competitor: :mod:`benchmarks.project.minimal`, the least a
Python middleware can do for the three signals, which puts the goals in proportion.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Config:
    name: str
    label: str
    ours: dict[str, Any] | None = None
    anchors: tuple[str, ...] = ()
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def tracing(self) -> bool:
        return self.ours is not None and self.ours.get("TRACING_ENABLED", True)

    @property
    def export(self) -> str:
        """``sink``, ``http`` or ``grpc``."""
        return str(self.extra.get("export", "sink"))


#: An endpoint is configured (tracing records nothing without one), but never contacted: the
#: exporter's transport is replaced by an in-process sink (see :mod:`benchmarks.sinks`).
_BASE = {
    "SERVICE_NAME": "bench",
    "SERVICE_VERSION": "1.0.0",
    "ENVIRONMENT": "bench",
    "OTLP_ENDPOINT": "http://127.0.0.1:4318/v1/traces",
}

#: The anchor stack as its users run it on views that query the database.
_ANCHOR = ("prometheus", "otel", "otel-db", "structlog")

CONFIGS: dict[str, Config] = {
    c.name: c
    for c in (
        Config("bare", "bare Django"),
        Config(
            "ours-default",
            "ours, default settings",
            ours=dict(_BASE),
            notes="metrics + traces + JSON access log; the default sampler keeps every trace",
        ),
        Config(
            "ours-100",
            "ours, everything on, 100% sampled",
            ours={**_BASE, "TRACES_SAMPLER": "always_on"},
        ),
        Config(
            "ours-100-mp",
            "ours, everything on, 100% sampled, multiprocess metrics",
            ours={**_BASE, "TRACES_SAMPLER": "always_on"},
            notes="metrics in prometheus_client's multiprocess files, as under gunicorn",
            extra={"multiprocess": True},
        ),
        Config(
            "ours-10",
            "ours, everything on, 10% sampled",
            ours={**_BASE, "TRACES_SAMPLER": "parentbased_traceidratio", "TRACES_SAMPLER_ARG": 0.1},
        ),
        Config(
            "ours-metrics",
            "ours, metrics only",
            ours={**_BASE, "TRACING_ENABLED": False, "ACCESS_LOG": False},
        ),
        Config(
            "ours-traces",
            "ours, traces only (100%)",
            ours={**_BASE, "METRICS_ENABLED": False, "ACCESS_LOG": False, "TRACES_SAMPLER": "always_on"},
        ),
        Config(
            "ours-logs",
            "ours, access log only",
            ours={**_BASE, "METRICS_ENABLED": False, "TRACING_ENABLED": False},
        ),
        Config(
            "minimal",
            "reference: a minimal three-signal middleware",
            notes=(
                "not a product: an in-memory histogram, a span tuple nothing exports, one JSON line "
                "(benchmarks/project/minimal.py); the least such a middleware costs here"
            ),
            extra={"minimal": True},
        ),
        Config(
            "ours-100-otlp",
            "ours, everything on, 100% sampled, OTLP/HTTP to a receiver process",
            ours={**_BASE, "TRACES_SAMPLER": "always_on", "SERVICE_NAME": "ours-100-otlp"},
            extra={"export": "http"},
        ),
        Config(
            "ours-100-grpc",
            "ours, everything on, 100% sampled, OTLP/gRPC to a receiver process",
            ours={
                **_BASE,
                "TRACES_SAMPLER": "always_on",
                "SERVICE_NAME": "ours-100-grpc",
                "OTLP_PROTOCOL": "grpc",
            },
            extra={"export": "grpc"},
        ),
        Config("anchor", "anchor stack (all three, per-query spans)", anchors=_ANCHOR),
        Config(
            "anchor-otlp",
            "anchor stack, OTLP/HTTP to a receiver process",
            anchors=_ANCHOR,
            extra={"export": "http"},
        ),
        Config(
            "anchor-grpc",
            "anchor stack, OTLP/gRPC to a receiver process",
            anchors=_ANCHOR,
            extra={"export": "grpc"},
        ),
        Config("anchor-prometheus", "django-prometheus alone", anchors=("prometheus",)),
        Config("anchor-otel", "OTel DjangoInstrumentor alone", anchors=("otel",)),
        Config(
            "anchor-otel-db", "OTel DjangoInstrumentor and SQLite3Instrumentor", anchors=("otel", "otel-db")
        ),
        Config("anchor-structlog", "django-structlog alone", anchors=("structlog",)),
    )
}

#: What ``--quick`` measures (the regression guard uses the same three).
QUICK = ("bare", "ours-100", "anchor")
FULL = tuple(CONFIGS)
#: Pairs compared on the real export path: ours against the anchor sending the same way.
EXPORT_PAIRS = {"ours-100-otlp": "anchor-otlp", "ours-100-grpc": "anchor-grpc"}


def needs_receiver(names: Sequence[str]) -> bool:
    return any(get(name).export != "sink" for name in names)


def get(name: str) -> Config:
    try:
        return CONFIGS[name]
    except KeyError:
        raise ValueError(f"unknown benchmark configuration {name!r}; known: {', '.join(CONFIGS)}") from None
