"""Settings resolution: dict over environment over defaults, read lazily, reset on change."""

from __future__ import annotations

import pytest
from django.test import override_settings

from instrumentation import conf


@override_settings(FLEET_OBSERVABILITY={})
def test_standard_otel_variables_are_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SERVICE_NAME", "checkout")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://tempo:4318/")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", "0.25")
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "service.version=9.9,deployment.environment.name=staging")
    conf.reset()
    settings = conf.get_settings()
    assert settings.service_name == "checkout"
    assert settings.otlp_endpoint == "http://tempo:4318/v1/traces"
    assert settings.traces_sampler_arg == 0.25
    assert settings.service_version == "9.9"
    assert settings.environment == "staging"


@override_settings(FLEET_OBSERVABILITY={})
def test_traces_specific_endpoint_wins_and_sdk_disabled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://generic:4318")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://traces:4318/custom")
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    conf.reset()
    settings = conf.get_settings()
    assert settings.otlp_endpoint == "http://traces:4318/custom"
    assert settings.tracing_enabled is False


def test_dict_wins_over_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SERVICE_NAME", "from-env")
    with override_settings(FLEET_OBSERVABILITY={"SERVICE_NAME": "from-dict"}):
        assert conf.get_settings().service_name == "from-dict"


def test_override_settings_reaches_a_cached_value() -> None:
    assert conf.get_settings().service_name == "tests"
    with override_settings(FLEET_OBSERVABILITY={"SERVICE_NAME": "changed"}):
        assert conf.get_settings().service_name == "changed"
    assert conf.get_settings().service_name == "tests"


@override_settings(
    FLEET_OBSERVABILITY={"METRICS_EXCLUDED_ROUTES": "metrics, healthz", "METRICS_PORT": "9100"}
)
def test_strings_are_coerced() -> None:
    settings = conf.get_settings()
    assert settings.metrics_excluded_routes == ("metrics", "healthz")
    assert settings.metrics_port == 9100


def test_every_key_is_documented() -> None:
    from pathlib import Path

    text = (Path(__file__).parents[2] / "docs" / "configuration.md").read_text()
    missing = [key for key in sorted(conf.KNOWN_KEYS) if f"`{key}`" not in text]
    assert missing == []


@override_settings(FLEET_OBSERVABILITY=[("SERVICE_NAME", "shop")])
def test_a_setting_that_is_not_a_dict_is_reported_and_the_defaults_apply() -> None:
    settings = conf.get_settings()
    assert ("", "FLEET_OBSERVABILITY must be a dict, got list") in conf.problems()
    assert settings.service_name == conf.settings_from_environment().service_name
    from django.core import checks

    errors = [m for m in checks.run_checks() if m.id == "fleetobs.E003"]
    assert [m.msg for m in errors] == ["FLEET_OBSERVABILITY must be a dict, got list."]
