"""Route names: a view's name, the ROUTE_NAMER setting and their bound, on every signal."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from django.test import Client, override_settings

from instrumentation import checks
from instrumentation.metrics import registry
from instrumentation.routes import route_name
from instrumentation.testing import get_sample_value
from instrumentation.tracing.testing import capture_spans
from tests.support.logs import BASE_SETTINGS, ConfigureLogs

SPA_PATTERN = "^app/(?P<rest>.*)$"
COUNT = "http_server_request_duration_seconds_count"


@pytest.fixture
def settings_with(configure_logs: ConfigureLogs) -> ConfigureLogs:
    """``settings_with(**FLEET_OBSERVABILITY keys)``: the test settings plus these, logs captured."""
    return configure_logs


def routes_counted() -> dict[str, float]:
    counted: dict[str, float] = {}
    for family in registry.collector_registry().collect():
        for sample in family.samples:
            if sample.name == COUNT:
                route = sample.labels["http_route"]
                counted[route] = counted.get(route, 0.0) + sample.value
    return counted


def count(route: str, status: str = "200") -> float | None:
    labels = {"http_request_method": "GET", "http_route": route, "http_response_status_code": status}
    return get_sample_value(COUNT, labels)


@pytest.mark.parametrize(
    ("path", "route"),
    [
        ("/shop/payment/", "checkout"),
        ("/docs/install/", "docs:install"),
        ("/reports/2024/", "reports"),
        ("/app/users/12", SPA_PATTERN),  # no namer configured: the pattern
        ("/ok/", "ok/"),
    ],
)
def test_a_view_names_its_route_on_metrics_spans_and_log_lines(
    settings_with: Any, path: str, route: str
) -> None:
    logs = settings_with()
    with capture_spans() as spans:
        assert Client().get(path).status_code == 200
    assert count(route) == 1.0
    (line,) = logs.access()
    assert line["http"]["route"] == route
    (span,) = spans.get_finished_spans()
    assert span.name == f"GET {route}"
    assert span.attributes is not None
    assert span.attributes["http.route"] == route


def test_route_namer_setting_names_a_catch_all_spa(settings_with: Any) -> None:
    logs = settings_with(ROUTE_NAMER="tests.project.views_routes.spa_route")
    client = Client()
    for path in ("/app/users/1", "/app/users/2/edit", "/app/settings", "/app/nowhere/x", "/ok/"):
        assert client.get(path).status_code == 200
    assert count("spa:users") == 2.0
    assert count("spa:settings") == 1.0
    assert count("spa:other") == 1.0
    assert count("ok/") == 1.0  # the namer said None: the pattern
    assert [line["http"]["route"] for line in logs.access()] == [
        "spa:users",
        "spa:users",
        "spa:settings",
        "spa:other",
        "ok/",
    ]


def test_the_view_name_wins_over_the_setting(settings_with: Any) -> None:
    settings_with(ROUTE_NAMER="tests.project.views_routes.every_path")
    Client().get("/shop/cart/")
    assert count("checkout") == 1.0


def test_an_unbounded_namer_stays_within_the_limit(settings_with: Any, caplog: Any) -> None:
    settings_with(ROUTE_NAMER="tests.project.views_routes.every_path", ROUTE_NAME_LIMIT=5)
    client = Client()
    with caplog.at_level(logging.WARNING, logger="fleetobs.routes"):
        for page in range(200):
            assert client.get(f"/app/page-{page}").status_code == 200
    counted = routes_counted()
    assert len(counted) == 6
    assert sorted(counted.values()) == [1.0] * 5 + [195.0]
    assert counted[SPA_PATTERN] == 195.0
    assert [record.getMessage()[:24] for record in caplog.records] == ["ROUTE_NAME_LIMIT (5) rea"]


def test_a_namer_that_raises_leaves_the_pattern(settings_with: Any, caplog: Any) -> None:
    logs = settings_with(ROUTE_NAMER="tests.project.views_routes.broken_namer")
    client = Client()
    with caplog.at_level(logging.WARNING, logger="fleetobs.routes"):
        assert client.get("/app/users/1").status_code == 200
        assert client.get("/app/users/2").status_code == 200
    assert count(SPA_PATTERN) == 2.0
    assert len(logs.access()) == 2
    (record,) = caplog.records
    assert "raised" in record.getMessage()


def test_a_named_route_still_masks_credentials_in_the_path(settings_with: Any) -> None:
    logs = settings_with()
    Client().get("/invite/s3cr3t-t0ken/")
    (line,) = logs.access()
    assert line["http"]["route"] == "invite"
    assert line["url"]["path"] == "/invite/[REDACTED]/"


def test_long_names_are_cut(settings_with: Any) -> None:
    settings_with(ROUTE_NAMER="tests.project.views_routes.every_path")
    Client().get("/app/" + "x" * 300)
    (route,) = routes_counted()
    assert len(route) == 128


@pytest.mark.parametrize("bad", ["", None, 3])
def test_route_name_needs_a_name_or_a_callable(bad: Any) -> None:
    with pytest.raises(ValueError, match="route_name"):
        route_name(bad)


@pytest.mark.parametrize(
    ("namer", "problem"),
    [
        ("tests.project.no_such_module.namer", "cannot be imported"),
        ("tests.project.views_routes.SPA_SECTIONS", "is not callable"),
    ],
)
def test_e005_route_namer_unusable(namer: str, problem: str) -> None:
    with override_settings(FLEET_OBSERVABILITY={**BASE_SETTINGS, "ROUTE_NAMER": namer}):
        messages = checks.check_route_namer()
    assert [m.id for m in messages] == ["fleetobs.E005"]
    assert problem in messages[0].msg


def test_e005_silent_for_a_usable_namer() -> None:
    settings = {**BASE_SETTINGS, "ROUTE_NAMER": "tests.project.views_routes.spa_route"}
    with override_settings(FLEET_OBSERVABILITY=settings):
        assert checks.check_route_namer() == []
    assert checks.check_route_namer() == []


def test_e003_route_name_limit_must_be_positive() -> None:
    with override_settings(FLEET_OBSERVABILITY={**BASE_SETTINGS, "ROUTE_NAME_LIMIT": 0}):
        assert [m.id for m in checks.check_settings()] == ["fleetobs.E003"]
