"""One test per system-check id."""

from __future__ import annotations

import pytest
from django.test import override_settings

from instrumentation import checks

FIRST = "instrumentation.middleware.ObservabilityMiddleware"
OTHER = "django.middleware.common.CommonMiddleware"
BASE = {"SERVICE_NAME": "tests", "LOGGING_CONFIGURE": False, "TRACING_ENABLED": False}


def ids(messages: list) -> list[str]:  # type: ignore[type-arg]
    return [m.id for m in messages]


def test_configured_project_is_clean() -> None:
    assert checks.check_middleware() == []
    assert checks.check_settings() == []
    assert checks.check_metrics_exposure() == []
    assert checks.check_urls() == []


@override_settings(MIDDLEWARE=[OTHER])
def test_e001_middleware_missing() -> None:
    assert ids(checks.check_middleware()) == ["fleetobs.E001"]


@override_settings(MIDDLEWARE=[FIRST, OTHER, FIRST])
def test_e002_middleware_duplicated() -> None:
    assert ids(checks.check_middleware()) == ["fleetobs.E002"]


@override_settings(MIDDLEWARE=[OTHER, FIRST])
def test_w001_middleware_not_first() -> None:
    assert ids(checks.check_middleware()) == ["fleetobs.W001"]


@pytest.mark.parametrize(
    "bad",
    [
        {"OTLP_PROTOCOL": "carrier-pigeon"},
        {"TRACES_SAMPLER_ARG": 2},
        {"N_PLUS_ONE_THRESHOLD": 0},
        {"METRICS_ALLOWED_NETWORKS": ["not a network"]},
        {"METRICS_ENABLED": "maybe"},
        {"LOG_FORMAT": "xml"},
        {"TRACES_SAMPLER": "sometimes"},
    ],
)
def test_e003_bad_values(bad: dict[str, object]) -> None:
    with override_settings(FLEET_OBSERVABILITY={**BASE, **bad}):
        messages = checks.check_settings()
    assert ids(messages) == ["fleetobs.E003"]
    assert next(iter(bad)) in messages[0].msg


@override_settings(FLEET_OBSERVABILITY={**BASE, "SERVICE_NAEM": "typo"})
def test_w002_unknown_key_with_suggestion() -> None:
    messages = checks.check_settings()
    assert ids(messages) == ["fleetobs.W002"]
    assert "SERVICE_NAME" in (messages[0].hint or "")


@override_settings(DEBUG=False, FLEET_OBSERVABILITY={**BASE, "METRICS_ALLOWED_NETWORKS": ["0.0.0.0/0"]})
def test_w003_metrics_open_to_the_world() -> None:
    assert ids(checks.check_metrics_exposure()) == ["fleetobs.W003"]


@override_settings(
    DEBUG=False,
    FLEET_OBSERVABILITY={**BASE, "METRICS_ALLOWED_NETWORKS": ["0.0.0.0/0"], "METRICS_BEARER_TOKEN": "t"},
)
def test_w003_silent_with_a_token() -> None:
    assert checks.check_metrics_exposure() == []


@override_settings(ROOT_URLCONF="tests.project.urls_without_metrics")
def test_w004_metrics_url_missing() -> None:
    assert ids(checks.check_urls()) == ["fleetobs.W004"]


def deploy_ids() -> list[str]:
    """The fleetobs ids ``manage.py check --deploy`` reports (the registered checks, deploy ones too)."""
    from django.core.checks import run_checks

    return sorted(m.id for m in run_checks(include_deployment_checks=True) if m.id.startswith("fleetobs."))


@pytest.mark.parametrize(
    "exposing",
    [
        {"METRICS_ALLOWED_NETWORKS": ["0.0.0.0/0"]},
        {"METRICS_ALLOWED_NETWORKS": ["::/0"]},
        {"METRICS_ALLOWED_NETWORKS": ["10.0.0.0/8", "8.8.8.0/24"]},
        {"METRICS_TRUST_PROXY": True},
    ],
)
def test_e004_deploy_metrics_exposed(exposing: dict[str, object]) -> None:
    with override_settings(DEBUG=False, FLEET_OBSERVABILITY={**BASE, **exposing}):
        messages = checks.check_metrics_deploy()
        reported = deploy_ids()
    assert ids(messages) == ["fleetobs.E004"]
    assert messages[0].is_serious()
    assert "fleetobs.E004" in reported


@pytest.mark.parametrize(
    "safe",
    [
        {},
        {"METRICS_ALLOWED_NETWORKS": ["0.0.0.0/0"], "METRICS_BEARER_TOKEN": "t"},
        {"METRICS_TRUST_PROXY": True, "METRICS_BEARER_TOKEN": "t"},
        {"METRICS_ALLOWED_NETWORKS": ["127.0.0.1/32"]},
        {"METRICS_ALLOWED_NETWORKS": ["0.0.0.0/0"], "METRICS_ENABLED": False},
    ],
)
def test_e004_silent_when_metrics_are_closed(safe: dict[str, object]) -> None:
    with override_settings(DEBUG=False, FLEET_OBSERVABILITY={**BASE, **safe}):
        assert checks.check_metrics_deploy() == []


@override_settings(DEBUG=True, FLEET_OBSERVABILITY={**BASE, "METRICS_TRUST_PROXY": True})
def test_e004_silent_while_debugging() -> None:
    assert checks.check_metrics_deploy() == []


def test_e004_only_under_deploy() -> None:
    from django.core.checks import run_checks

    with override_settings(DEBUG=False, FLEET_OBSERVABILITY={**BASE, "METRICS_TRUST_PROXY": True}):
        assert "fleetobs.E004" not in [m.id for m in run_checks()]
