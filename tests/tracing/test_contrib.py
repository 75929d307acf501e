"""Outgoing-HTTP instrumentations are enabled when installed and skipped quietly when not."""

from __future__ import annotations

import dataclasses
import sys
import types
from typing import Any

import pytest

from instrumentation import conf
from instrumentation.tracing import contrib, provider


class FakeInstrumentor:
    calls: list[tuple[str, Any]] = []

    is_instrumented_by_opentelemetry = False

    def instrument(self, **kwargs: Any) -> None:
        FakeInstrumentor.calls.append(("instrument", kwargs.get("tracer_provider")))

    def uninstrument(self) -> None:
        FakeInstrumentor.calls.append(("uninstrument", None))


def test_installed_http_client_instrumentation_is_enabled_and_undone(monkeypatch: pytest.MonkeyPatch) -> None:
    module = types.ModuleType("opentelemetry.instrumentation.requests")
    module.RequestsInstrumentor = FakeInstrumentor  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "opentelemetry.instrumentation.requests", module)
    FakeInstrumentor.calls.clear()
    settings = dataclasses.replace(
        conf.get_settings(), tracing_enabled=True, otlp_endpoint="http://c:4318/v1/traces"
    )
    state = provider.setup(settings)
    assert state is not None
    assert FakeInstrumentor.calls == [("instrument", state.provider)]
    provider.reset()
    assert FakeInstrumentor.calls[-1] == ("uninstrument", None)


def test_missing_instrumentations_are_skipped_quietly(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    for module_name, _ in contrib.HTTP_CLIENTS:
        monkeypatch.setitem(sys.modules, module_name, None)  # makes the import fail
    settings = dataclasses.replace(conf.get_settings(), tracing_enabled=True)
    assert contrib.instrument(provider.TracerProvider(), settings) == []
    assert caplog.records == []
