"""The ``promtool test rules`` cases, as data, and the writer of tests/alerting/promtool/*.yml.

Each :class:`Case` gives input series in promtool's expanding notation (``0+600x60`` = a counter
growing by 600 per 1m step), an evaluation time, and the alerts expected then: an empty list is a
case that must NOT fire. The expected annotations are the rule's own templates with ``$labels``
filled in and ``$value`` replaced by the rendering we expect (``"2%"``); promtool evaluates the
real templates, so a wrong value or label fails the test.

The rules under test are the committed compose rules, generated from compose/prometheus/slo.yaml:
``shop`` has its own SLO (99.5% availability, 99% under 1 s, at least 2 instances); ``api`` gets
the default (99.9%, 99% under 0.5 s). Regenerate the YAML with
``python -m tests.alerting.promtool_cases`` (or ``fleetobs generate``, with every other generated
file); ``fleetobs generate --check``, run by the test suite, fails when the committed files are stale.
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alerting import api
from alerting.model import Alert
from alerting.render import dump
from alerting.slo import load_spec

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "compose" / "prometheus" / "slo.yaml"
OUT_DIR = Path(__file__).resolve().parent / "promtool"
RULE_FILES = "../../../compose/prometheus/rules/*.yml"

HTTP = "http_server_request_duration_seconds"


@dataclass(frozen=True)
class Expect:
    #: Every label of the expected alert except ``alertname`` (rule labels included).
    labels: dict[str, str]
    #: How ``{{ $value | ... }}`` renders for this alert.
    value: str


@dataclass(frozen=True)
class Case:
    alert: str
    name: str
    at: str
    series: dict[str, str]
    expect: list[Expect] = field(default_factory=list)
    interval: str = "1m"
    #: Cases that need a day or more of history go to history.yml, evaluated every 5m to stay fast.
    long: bool = False

    @property
    def fires(self) -> bool:
        return bool(self.expect)


def labels(**kw: str) -> str:
    return "{" + ", ".join(f'{k}="{v}"' for k, v in kw.items()) + "}"


def http_count(
    job: str, status: str, values: str, route: str = "shop/products/", instance: str = "i1"
) -> tuple[str, str]:
    sel = labels(
        job=job,
        instance=instance,
        http_request_method="GET",
        http_route=route,
        http_response_status_code=status,
    )
    return f"{HTTP}_count{sel}", values


def http_selector(
    job: str, status: str, route: str = "shop/products/", instance: str = "i1", **extra: str
) -> str:
    """The request counter's selector with extra target labels (``environment=...``)."""
    sel = labels(
        job=job,
        instance=instance,
        http_request_method="GET",
        http_route=route,
        http_response_status_code=status,
        **extra,
    )
    return f"{HTTP}_count{sel}"


def http_bucket(
    job: str, le: str, values: str, route: str = "shop/products/", status: str = "200", instance: str = "i1"
) -> tuple[str, str]:
    sel = labels(
        job=job,
        instance=instance,
        http_request_method="GET",
        http_route=route,
        http_response_status_code=status,
        le=le,
    )
    return f"{HTTP}_bucket{sel}", values


def burn(job: str, sli: str, severity: str, long: str, short: str, spec: str, value: str) -> Expect:
    return Expect(
        {
            "job": job,
            "severity": severity,
            "slo": sli,
            "spec": spec,
            "long_window": long,
            "short_window": short,
        },
        value,
    )


def target(job: str = "api", instance: str = "i1") -> dict[str, str]:
    return {"job": job, "instance": instance}


def series(name: str, values: str, **kw: str) -> tuple[str, str]:
    return f"{name}{labels(**kw)}", values


def _cases() -> list[Case]:
    api_t = target()
    return [
        # --- SLO burn rate: availability ---------------------------------------------------------
        Case(
            "FleetobsAvailabilityBudgetBurn",
            "2% errors page the default 99.9% service on both fast windows, not shop's 99.5% SLO",
            "30m",
            dict(
                [
                    http_count("api", "200", "0+588x60"),
                    http_count("api", "500", "0+12x60"),
                    http_count("shop", "200", "0+588x60"),
                    http_count("shop", "500", "0+12x60"),
                ]
            ),
            [
                burn("api", "availability", "critical", "1h", "5m", "default", "2%"),
                burn("api", "availability", "critical", "6h", "30m", "default", "2%"),
            ],
        ),
        Case(
            "FleetobsAvailabilityBudgetBurn",
            "a steady 0.5% error ratio opens a ticket on the 1d/2h window after an hour",
            "2h",
            dict([http_count("api", "200", "0+597x180"), http_count("api", "500", "0+3x180")]),
            [burn("api", "availability", "warning", "1d", "2h", "default", "0.5%")],
        ),
        Case(
            "FleetobsAvailabilityBudgetBurn",
            "shop's own threshold: 10% errors page shop (7.2% is 14.4x its 0.5% budget)",
            "30m",
            dict([http_count("shop", "200", "0+540x60"), http_count("shop", "500", "0+60x60")]),
            [
                burn("shop", "availability", "critical", "1h", "5m", "shop", "10%"),
                burn("shop", "availability", "critical", "6h", "30m", "shop", "10%"),
            ],
        ),
        Case(
            "FleetobsAvailabilityBudgetBurn",
            "low traffic: one failed request among 1 req/min at night pages nobody",
            "40m",
            dict(
                [
                    http_count("api", "200", "0+1x60"),
                    http_count("api", "500", "0x37 1x22"),
                    http_count("shop", "200", "0+1x60"),
                    http_count("shop", "500", "0x37 1x22"),
                ]
            ),
        ),
        Case(
            "FleetobsAvailabilityBudgetBurn",
            "healthy: 0.05% errors burn less than the budget",
            "3h",
            dict([http_count("api", "200", "0+1999x200"), http_count("api", "500", "0+1x200")]),
        ),
        # --- SLO burn rate: latency --------------------------------------------------------------
        Case(
            "FleetobsLatencyBudgetBurn",
            "20% of api requests over 0.5s page; shop at 10% over 1s burns only the 6h/30m window",
            "30m",
            dict(
                [
                    http_bucket("api", "0.5", "0+480x60"),
                    http_bucket("api", "1.0", "0+600x60"),
                    http_bucket("api", "+Inf", "0+600x60"),
                    http_count("api", "200", "0+600x60"),
                    http_bucket("shop", "0.5", "0+300x60"),
                    http_bucket("shop", "1.0", "0+540x60"),
                    http_bucket("shop", "+Inf", "0+600x60"),
                    http_count("shop", "200", "0+600x60"),
                ]
            ),
            [
                burn("api", "latency", "critical", "1h", "5m", "default", "20%"),
                burn("api", "latency", "critical", "6h", "30m", "default", "20%"),
                burn("shop", "latency", "critical", "6h", "30m", "shop", "10%"),
            ],
        ),
        Case(
            "FleetobsLatencyBudgetBurn",
            "low traffic: every request slow, but 1 req/min is under the minimum rate",
            "40m",
            dict(
                [
                    http_bucket("api", "0.5", "0x60"),
                    http_bucket("api", "+Inf", "0+1x60"),
                    http_count("api", "200", "0+1x60"),
                ]
            ),
        ),
        Case(
            "FleetobsLatencyBudgetBurn",
            "a single slow request among 600/min does not burn the budget",
            "40m",
            dict(
                [
                    http_bucket("api", "0.5", "0+600x30 18001+600x30"),
                    http_bucket("api", "+Inf", "0+600x60"),
                    http_count("api", "200", "0+600x60"),
                ]
            ),
        ),
        # --- Routes ------------------------------------------------------------------------------
        Case(
            "FleetobsRouteErrorSpike",
            "one route answers 10% 5xx at 1 req/s for 20 minutes",
            "20m",
            dict(
                [
                    http_count("api", "200", "0+54x20", route="shop/checkout/"),
                    http_count("api", "500", "0+6x20", route="shop/checkout/"),
                    http_count("api", "200", "0+600x20", route="shop/products/"),
                ]
            ),
            [Expect({"job": "api", "http_route": "shop/checkout/", "severity": "warning"}, "10%")],
        ),
        Case(
            "FleetobsRouteErrorSpike",
            "a failing health check and a rarely used failing route open no ticket",
            "20m",
            dict(
                [
                    http_count("api", "503", "0+60x20", route="healthz"),
                    http_count("api", "500", "0+1x20", route="admin/report/"),
                ]
            ),
        ),
        Case(
            "FleetobsRouteLatencyRegression",
            "p99 of a route jumps from under 0.1s to about 1s for the last hour",
            "26h",
            dict(
                [
                    http_bucket("api", "0.1", "0+60x1500 90000x60"),
                    http_bucket("api", "0.5", "0+60x1500 90000x60"),
                    http_bucket("api", "1.0", "0+60x1560"),
                    http_bucket("api", "+Inf", "0+60x1560"),
                    http_count("api", "200", "0+60x1560"),
                ]
            ),
            [Expect({"job": "api", "http_route": "shop/products/", "severity": "warning"}, "995ms")],
            long=True,
        ),
        Case(
            "FleetobsRouteLatencyRegression",
            "one slow request in the last half hour does not move the p99",
            "26h",
            dict(
                [
                    http_bucket("api", "0.1", "0+60x1540 92400+60x20"),
                    http_bucket("api", "0.5", "0+60x1540 92401+60x20"),
                    http_bucket("api", "1.0", "0+60x1540 92401+60x20"),
                    http_bucket("api", "+Inf", "0+60x1540 92401+60x20"),
                    http_count("api", "200", "0+60x1540 92401+60x20"),
                ]
            ),
            long=True,
        ),
        # --- Saturation --------------------------------------------------------------------------
        Case(
            "FleetobsCPUNearLimit",
            "95% of a one-core quota for 25 minutes",
            "25m",
            dict(
                [
                    series("fleetobs_process_cpu_seconds_total", "0+57x25", **api_t),
                    series("fleetobs_process_cpu_limit_cores", "1x25", **api_t),
                ]
            ),
            [Expect({**api_t, "severity": "warning"}, "95%")],
        ),
        Case(
            "FleetobsCPUNearLimit",
            "short blip: five minutes at the full quota",
            "30m",
            dict(
                [
                    series("fleetobs_process_cpu_seconds_total", "0+10x10 160+60x5 460+10x15", **api_t),
                    series("fleetobs_process_cpu_limit_cores", "1x30", **api_t),
                ]
            ),
        ),
        Case(
            "FleetobsMemoryNearLimit",
            "95% of the memory limit for 20 minutes",
            "20m",
            dict(
                [
                    series("fleetobs_process_resident_memory_bytes", "950x20", **api_t),
                    series("fleetobs_process_memory_limit_bytes", "1000x20", **api_t),
                ]
            ),
            [Expect({**api_t, "severity": "warning"}, "95%")],
        ),
        Case(
            "FleetobsMemoryNearLimit",
            "short blip: five minutes near the limit, then back to half",
            "20m",
            dict(
                [
                    series("fleetobs_process_resident_memory_bytes", "500x5 950x5 500x10", **api_t),
                    series("fleetobs_process_memory_limit_bytes", "1000x20", **api_t),
                ]
            ),
        ),
        Case(
            "FleetobsFileDescriptorsNearLimit",
            "85% of file descriptors: a ticket",
            "15m",
            dict(
                [
                    series("fleetobs_process_open_fds", "850x15", **api_t),
                    series("fleetobs_process_max_fds", "1000x15", **api_t),
                ]
            ),
            [Expect({**api_t, "severity": "warning"}, "85%")],
        ),
        Case(
            "FleetobsFileDescriptorsNearLimit",
            "95% of file descriptors: the page fires next to the ticket (Alertmanager inhibits the ticket)",
            "15m",
            dict(
                [
                    series("fleetobs_process_open_fds", "950x15", **api_t),
                    series("fleetobs_process_max_fds", "1000x15", **api_t),
                ]
            ),
            [
                Expect({**api_t, "severity": "warning"}, "95%"),
                Expect({**api_t, "severity": "critical"}, "95%"),
            ],
        ),
        Case(
            "FleetobsFileDescriptorsNearLimit",
            "short blip: three minutes at 95%",
            "15m",
            dict(
                [
                    series("fleetobs_process_open_fds", "100x5 950x3 100x7", **api_t),
                    series("fleetobs_process_max_fds", "1000x15", **api_t),
                ]
            ),
        ),
        Case(
            "FleetobsWorkersSaturated",
            "every worker busy for 20 minutes",
            "20m",
            dict(
                [
                    series("http_server_active_requests", "8x20", **api_t),
                    series("fleetobs_server_worker_capacity", "8x20", **api_t),
                ]
            ),
            [Expect({**api_t, "severity": "warning"}, "100%")],
        ),
        Case(
            "FleetobsWorkersSaturated",
            "short blip: three minutes fully busy",
            "20m",
            dict(
                [
                    series("http_server_active_requests", "1x5 8x3 1x12", **api_t),
                    series("fleetobs_server_worker_capacity", "8x20", **api_t),
                ]
            ),
        ),
        Case(
            "FleetobsWebSocketConnectionsNearCapacity",
            "900 of 1000 connections open (two routes, two processes) for 20 minutes",
            "20m",
            dict(
                [
                    series(
                        "fleetobs_websocket_connections_active", "600x20", websocket_route="ws/chat/", **api_t
                    ),
                    series(
                        "fleetobs_websocket_connections_active", "300x20", websocket_route="ws/feed/", **api_t
                    ),
                    series("fleetobs_websocket_connection_capacity", "1000x20", **api_t),
                ]
            ),
            [Expect({**api_t, "severity": "warning"}, "90%")],
        ),
        Case(
            "FleetobsWebSocketConnectionsNearCapacity",
            "short blip: five minutes at 95%, then half",
            "20m",
            dict(
                [
                    series(
                        "fleetobs_websocket_connections_active",
                        "500x5 950x5 500x10",
                        websocket_route="ws/chat/",
                        **api_t,
                    ),
                    series("fleetobs_websocket_connection_capacity", "1000x20", **api_t),
                ]
            ),
        ),
        Case(
            "FleetobsWebSocketConnectionsNearCapacity",
            "no capacity exported (no ObservedWebSockets): never fires",
            "20m",
            dict(
                [
                    series(
                        "fleetobs_websocket_connections_active", "900x20", websocket_route="ws/chat/", **api_t
                    )
                ]
            ),
        ),
        Case(
            "FleetobsDatabaseConnectionErrors",
            "0.1 failed connections per second for 20 minutes",
            "20m",
            dict(
                [
                    series(
                        "fleetobs_db_connection_errors_total",
                        "0+6x20",
                        db_alias="default",
                        db_system="postgresql",
                        **api_t,
                    )
                ]
            ),
            [Expect({**api_t, "db_alias": "default", "severity": "warning"}, "0.1")],
        ),
        Case(
            "FleetobsDatabaseConnectionErrors",
            "short blip: three failures in one minute (a database restart)",
            "20m",
            dict(
                [
                    series(
                        "fleetobs_db_connection_errors_total",
                        "0x10 3x10",
                        db_alias="default",
                        db_system="postgresql",
                        **api_t,
                    )
                ]
            ),
        ),
        Case(
            "FleetobsNPlusOneRising",
            "N+1 requests go from none to 10% after version 1.1 is deployed",
            "31h",
            dict(
                [
                    http_count("api", "200", "0+600x1860"),
                    series(
                        "fleetobs_db_n_plus_one_total",
                        "0x1800 0+60x60",
                        job="api",
                        instance="i1",
                        http_route="shop/orders/",
                    ),
                    series(
                        "fleetobs_build_info",
                        "1x1800",
                        job="api",
                        instance="i1",
                        service_name="api",
                        service_version="1.0",
                        django_version="5.2",
                        python_version="3.11",
                    ),
                    series(
                        "fleetobs_build_info",
                        "_x1800 1x60",
                        job="api",
                        instance="i1",
                        service_name="api",
                        service_version="1.1",
                        django_version="5.2",
                        python_version="3.11",
                    ),
                ]
            ),
            [Expect({"job": "api", "severity": "info"}, "10%")],
            long=True,
        ),
        Case(
            "FleetobsNPlusOneRising",
            "the same rise without a deploy is left to the dashboards",
            "31h",
            dict(
                [
                    http_count("api", "200", "0+600x1860"),
                    series(
                        "fleetobs_db_n_plus_one_total",
                        "0x1800 0+60x60",
                        job="api",
                        instance="i1",
                        http_route="shop/orders/",
                    ),
                    series(
                        "fleetobs_build_info",
                        "1x1860",
                        job="api",
                        instance="i1",
                        service_name="api",
                        service_version="1.0",
                        django_version="5.2",
                        python_version="3.11",
                    ),
                ]
            ),
            long=True,
        ),
        Case(
            "FleetobsMigrationsUnapplied",
            "two migrations not applied for 20 minutes",
            "20m",
            dict([series("fleetobs_django_migrations_unapplied", "2x20", db_alias="default", **api_t)]),
            [Expect({"job": "api", "db_alias": "default", "severity": "warning"}, "2")],
        ),
        Case(
            "FleetobsMigrationsUnapplied",
            "short blip: code rolled out five minutes before its migration ran",
            "20m",
            dict(
                [series("fleetobs_django_migrations_unapplied", "0x5 1x5 0x10", db_alias="default", **api_t)]
            ),
        ),
        # --- Availability ------------------------------------------------------------------------
        Case(
            "FleetobsInstanceDown",
            "an instance stops answering scrapes for 10 minutes",
            "15m",
            dict([series("up", "1x5 0x10", **api_t), series("up", "1x15", job="api", instance="i2")]),
            [Expect({**api_t, "severity": "warning"}, "0")],
        ),
        Case(
            "FleetobsInstanceDown",
            "short blip: one failed scrape",
            "15m",
            dict([series("up", "1x5 0 1x9", **api_t)]),
        ),
        Case(
            "FleetobsServiceDown",
            "both instances of shop down",
            "10m",
            dict(
                [
                    series("up", "1x2 0x8", job="shop", instance="i1"),
                    series("up", "1x2 0x8", job="shop", instance="i2"),
                ]
            ),
            [Expect({"job": "shop", "severity": "critical"}, "0")],
        ),
        Case(
            "FleetobsServiceDown",
            "one of two instances down is not a service outage",
            "10m",
            dict(
                [
                    series("up", "1x2 0x8", job="shop", instance="i1"),
                    series("up", "1x10", job="shop", instance="i2"),
                ]
            ),
        ),
        Case(
            "FleetobsTooFewInstances",
            "shop (minimum 2, from the spec) and api (default minimum 2) each run on one healthy instance",
            "10m",
            dict(
                [
                    series("up", "1x10", job="shop", instance="i1"),
                    series("up", "0x10", job="shop", instance="i2"),
                    series("up", "1x10", job="api", instance="i1"),
                    series("up", "0x10", job="api", instance="i2"),
                    series(
                        "fleetobs_build_info",
                        "1x10",
                        job="api",
                        instance="i1",
                        service_name="api",
                        service_version="1.0",
                        django_version="5.2",
                        python_version="3.11",
                    ),
                ]
            ),
            [
                Expect({"job": "shop", "severity": "warning", "spec": "shop"}, "1"),
                Expect({"job": "api", "severity": "warning", "spec": "default"}, "1"),
            ],
        ),
        Case(
            "FleetobsTooFewInstances",
            "both instances healthy; and a single-target job without fleetobs metrics is not an HA service",
            "10m",
            dict(
                [
                    series("up", "1x10", job="shop", instance="i1"),
                    series("up", "1x10", job="shop", instance="i2"),
                    series("up", "1x10", job="prometheus", instance="localhost:9090"),
                ]
            ),
        ),
        Case(
            "FleetobsServiceNoTargets",
            "service discovery returns no target for shop",
            "10m",
            dict(
                [
                    series("up", "1x10", job="api", instance="i1"),
                    series("up", "1x10", job="shop-worker", instance="w1"),
                ]
            ),
            [Expect({"job": "shop", "severity": "critical", "spec": "shop"}, "1")],
        ),
        Case(
            "FleetobsServiceNoTargets",
            "the worker, a service of its own in the spec, has no target while shop has",
            "10m",
            dict([series("up", "1x10", job="shop", instance="i1")]),
            [Expect({"job": "shop-worker", "severity": "critical", "spec": "shop-worker"}, "1")],
        ),
        Case(
            "FleetobsServiceNoTargets",
            "shop has targets, even if one is down",
            "10m",
            dict(
                [
                    series("up", "1x10", job="shop", instance="i1"),
                    series("up", "0x10", job="shop", instance="i2"),
                    series("up", "1x10", job="shop-worker", instance="w1"),
                ]
            ),
        ),
        Case(
            "FleetobsMetricsAbsent",
            "an instance still answers scrapes but its fleetobs metrics vanished 20 minutes ago",
            "40m",
            dict(
                [
                    series("up", "1x40", **api_t),
                    series("scrape_samples_scraped", "500x20 3x20", **api_t),
                    series(
                        "fleetobs_build_info",
                        "1x20 _x20",
                        job="api",
                        instance="i1",
                        service_name="api",
                        service_version="1.0",
                        django_version="5.2",
                        python_version="3.11",
                    ),
                ]
            ),
            [Expect({**api_t, "severity": "warning"}, "3")],
        ),
        Case(
            "FleetobsMetricsAbsent",
            "metrics present all along; a job that never had fleetobs metrics is not flagged",
            "40m",
            dict(
                [
                    series("up", "1x40", **api_t),
                    series("scrape_samples_scraped", "500x40", **api_t),
                    series(
                        "fleetobs_build_info",
                        "1x40",
                        job="api",
                        instance="i1",
                        service_name="api",
                        service_version="1.0",
                        django_version="5.2",
                        python_version="3.11",
                    ),
                    series("up", "1x40", job="prometheus", instance="localhost:9090"),
                    series("scrape_samples_scraped", "800x40", job="prometheus", instance="localhost:9090"),
                ]
            ),
        ),
        # --- Pipeline ----------------------------------------------------------------------------
        Case(
            "FleetobsTelemetryDropped",
            "10% of spans dropped; every log record dropped with none exported",
            "30m",
            dict(
                [
                    series(
                        "fleetobs_telemetry_dropped_total",
                        "0+6x30",
                        signal="spans",
                        reason="queue_full",
                        **api_t,
                    ),
                    series("fleetobs_telemetry_exported_total", "0+54x30", signal="spans", **api_t),
                    series(
                        "fleetobs_telemetry_dropped_total",
                        "0+6x30",
                        signal="logs",
                        reason="export_failed",
                        **api_t,
                    ),
                ]
            ),
            [
                Expect({"job": "api", "signal": "spans", "severity": "warning"}, "10%"),
                Expect({"job": "api", "signal": "logs", "severity": "warning"}, "100%"),
            ],
        ),
        Case(
            "FleetobsTelemetryDropped",
            "short blip: a full queue for one minute",
            "30m",
            dict(
                [
                    series(
                        "fleetobs_telemetry_dropped_total",
                        "0x10 60x20",
                        signal="spans",
                        reason="queue_full",
                        **api_t,
                    ),
                    series("fleetobs_telemetry_exported_total", "0+600x30", signal="spans", **api_t),
                ]
            ),
        ),
        Case(
            "FleetobsLogShippingFailing",
            "every log export fails for 20 minutes",
            "20m",
            dict(
                [
                    series("fleetobs_telemetry_export_failures_total", "0+6x20", signal="logs", **api_t),
                    series("fleetobs_telemetry_exported_total", "100x20", signal="logs", **api_t),
                ]
            ),
            [Expect({**api_t, "severity": "warning"}, "0.1")],
        ),
        Case(
            "FleetobsLogShippingFailing",
            "failed attempts that succeed on retry are not a failing pipeline",
            "20m",
            dict(
                [
                    series("fleetobs_telemetry_export_failures_total", "0+6x20", signal="logs", **api_t),
                    series("fleetobs_telemetry_exported_total", "0+600x20", signal="logs", **api_t),
                ]
            ),
        ),
        Case(
            "FleetobsTaskFailures",
            "half the runs of a task fail",
            "30m",
            dict(
                [
                    series(
                        "fleetobs_task_executions_total",
                        "0+30x30",
                        job="worker",
                        instance="w1",
                        task_name="shop.tasks.send_receipt",
                        task_state="failure",
                    ),
                    series(
                        "fleetobs_task_executions_total",
                        "0+30x30",
                        job="worker",
                        instance="w1",
                        task_name="shop.tasks.send_receipt",
                        task_state="success",
                    ),
                ]
            ),
            [Expect({"job": "worker", "task_name": "shop.tasks.send_receipt", "severity": "warning"}, "50%")],
        ),
        Case(
            "FleetobsTaskFailures",
            "a rare task failing once is under the minimum rate",
            "30m",
            dict(
                [
                    series(
                        "fleetobs_task_executions_total",
                        "0x5 1x25",
                        job="worker",
                        instance="w1",
                        task_name="shop.tasks.nightly_report",
                        task_state="failure",
                    )
                ]
            ),
        ),
        Case(
            "FleetobsTaskQueueBacklog",
            "tasks wait 1-5 minutes in the queue; another task is queued and never run",
            "30m",
            dict(
                [
                    series(
                        "fleetobs_task_queue_wait_seconds_bucket",
                        "0x30",
                        job="worker",
                        instance="w1",
                        task_name="shop.tasks.send_receipt",
                        le="60.0",
                    ),
                    series(
                        "fleetobs_task_queue_wait_seconds_bucket",
                        "0+10x30",
                        job="worker",
                        instance="w1",
                        task_name="shop.tasks.send_receipt",
                        le="300.0",
                    ),
                    series(
                        "fleetobs_task_queue_wait_seconds_bucket",
                        "0+10x30",
                        job="worker",
                        instance="w1",
                        task_name="shop.tasks.send_receipt",
                        le="+Inf",
                    ),
                    series(
                        "fleetobs_task_published_total",
                        "0+6x30",
                        job="shop",
                        instance="i1",
                        task_name="shop.tasks.reindex",
                    ),
                ]
            ),
            [
                Expect(
                    {"task_name": "shop.tasks.send_receipt", "severity": "warning", "backlog": "slow"},
                    "4m 48s",
                ),
                Expect(
                    {"task_name": "shop.tasks.reindex", "severity": "warning", "backlog": "unconsumed"}, "0.1"
                ),
            ],
        ),
        Case(
            "FleetobsTaskQueueBacklog",
            "tasks start within a second and every published task runs",
            "30m",
            dict(
                [
                    series(
                        "fleetobs_task_queue_wait_seconds_bucket",
                        "0+10x30",
                        job="worker",
                        instance="w1",
                        task_name="shop.tasks.send_receipt",
                        le="1.0",
                    ),
                    series(
                        "fleetobs_task_queue_wait_seconds_bucket",
                        "0+10x30",
                        job="worker",
                        instance="w1",
                        task_name="shop.tasks.send_receipt",
                        le="+Inf",
                    ),
                    series(
                        "fleetobs_task_published_total",
                        "0+6x30",
                        job="shop",
                        instance="i1",
                        task_name="shop.tasks.send_receipt",
                    ),
                    series(
                        "fleetobs_task_executions_total",
                        "0+6x30",
                        job="worker",
                        instance="w1",
                        task_name="shop.tasks.send_receipt",
                        task_state="success",
                    ),
                ]
            ),
        ),
        Case("Watchdog", "always fires, with no input at all", "1m", {}, [Expect({"severity": "info"}, "1")]),
        # --- target labels: environment, where the scrape config adds it -----------------------
        # Every case above feeds series with job and instance only, as a plain scrape config
        # gives them. Where an environment label exists, two environments sharing a job stay apart.
        Case(
            "FleetobsServiceDown",
            "api is down in production while its staging instance is up (one Prometheus, two environments)",
            "10m",
            dict(
                [
                    series("up", "1x2 0x8", job="api", instance="i1", environment="production"),
                    series("up", "1x2 0x8", job="api", instance="i2", environment="production"),
                    series("up", "1x10", job="api", instance="i3", environment="staging"),
                ]
            ),
            [Expect({"job": "api", "environment": "production", "severity": "critical"}, "0")],
        ),
        Case(
            "FleetobsAvailabilityBudgetBurn",
            "2% errors in production page, with its environment; a healthy staging does not dilute them",
            "30m",
            {
                http_selector("api", "200", environment="production"): "0+588x60",
                http_selector("api", "500", environment="production"): "0+12x60",
                http_selector("api", "200", environment="staging"): "0+600x60",
            },
            [
                Expect(
                    {
                        **burn("api", "availability", "critical", w[0], w[1], "default", "").labels,
                        "environment": "production",
                    },
                    "2%",
                )
                for w in (("1h", "5m"), ("6h", "30m"))
            ],
        ),
    ]


CASES = _cases()
FAMILIES = {
    "slo": ("FleetobsAvailabilityBudgetBurn", "FleetobsLatencyBudgetBurn"),
    "routes": ("FleetobsRouteErrorSpike", "FleetobsRouteLatencyRegression"),
    "saturation": (
        "FleetobsCPUNearLimit",
        "FleetobsMemoryNearLimit",
        "FleetobsFileDescriptorsNearLimit",
        "FleetobsWorkersSaturated",
        "FleetobsWebSocketConnectionsNearCapacity",
        "FleetobsDatabaseConnectionErrors",
        "FleetobsNPlusOneRising",
        "FleetobsMigrationsUnapplied",
    ),
    "availability": (
        "FleetobsInstanceDown",
        "FleetobsServiceDown",
        "FleetobsTooFewInstances",
        "FleetobsServiceNoTargets",
        "FleetobsMetricsAbsent",
    ),
    "pipeline": (
        "FleetobsTelemetryDropped",
        "FleetobsLogShippingFailing",
        "FleetobsTaskFailures",
        "FleetobsTaskQueueBacklog",
        "Watchdog",
    ),
}

_VALUE = re.compile(r"\{\{ \$value[^}]*\}\}")
_LABEL = re.compile(r"\{\{ \$labels\.(\w+)( \| urlquery)? \}\}")


def render(template: str, alert_labels: dict[str, str], value: str) -> str:
    """The subset of Prometheus templating our annotations use: ``$labels.x`` (optionally piped
    through Go's ``urlquery``, which escapes as ``quote_plus`` does) and ``$value``."""
    text = _VALUE.sub(value, template)

    def label(match: re.Match[str]) -> str:
        found = alert_labels[match.group(1)]
        return urllib.parse.quote_plus(found) if match.group(2) else found

    return _LABEL.sub(label, text)


def _rule_for(alerts: list[Alert], name: str, expect: Expect) -> Alert:
    matching = [
        a
        for a in alerts
        if a.alert == name and {"severity": a.severity, **a.labels}.items() <= expect.labels.items()
    ]
    if len(matching) != 1:
        raise ValueError(f"{name}: {len(matching)} rules match expected labels {expect.labels}")
    return matching[0]


def _expected(alerts: list[Alert], case: Case) -> list[dict[str, Any]]:
    out = []
    for expect in case.expect:
        rule = _rule_for(alerts, case.alert, expect)
        out.append(
            {
                "exp_labels": dict(expect.labels),
                "exp_annotations": {
                    "summary": render(rule.summary, expect.labels, expect.value),
                    "description": render(rule.description, expect.labels, expect.value),
                    "runbook_url": rule.runbook_url,
                    "dashboard_url": render(rule.dashboard_url, expect.labels, expect.value),
                },
            }
        )
    return out


def documents() -> dict[str, dict[str, Any]]:
    """File name -> promtool test document, one file per alert family."""
    ctx = api.build_context(load_spec(SPEC))
    alerts = api.alerts(ctx)
    out = {}
    selections = [
        (f"{family}.yml", "1m", [c for c in CASES if c.alert in names and not c.long])
        for family, names in FAMILIES.items()
    ]
    selections.append(("history.yml", "5m", [c for c in CASES if c.long]))
    for file_name, every, cases in selections:
        tests = []
        for case in cases:
            tests.append(
                {
                    "name": f"{case.alert} {'fires' if case.fires else 'stays quiet'}: {case.name}",
                    "interval": case.interval,
                    "input_series": [{"series": s, "values": v} for s, v in case.series.items()],
                    "alert_rule_test": [
                        {"eval_time": case.at, "alertname": case.alert, "exp_alerts": _expected(alerts, case)}
                    ],
                }
            )
        out[file_name] = {"rule_files": [RULE_FILES], "evaluation_interval": every, "tests": tests}
    return out


def render_all() -> dict[str, str]:
    header = "# Generated by `python -m tests.alerting.promtool_cases`; edit the cases there.\n"
    return {name: header + dump(doc, header=False) for name, doc in documents().items()}


def main() -> None:
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    for name, text in render_all().items():
        (OUT_DIR / name).write_text(text, encoding="utf-8")
        print(OUT_DIR / name)


if __name__ == "__main__":
    main()
