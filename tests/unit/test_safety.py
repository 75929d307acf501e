"""The error boundary: a failure inside the instrumentation is counted every time, logged once."""

from __future__ import annotations

import logging

import pytest

from instrumentation import _safety
from instrumentation.testing import get_sample_value


def test_internal_errors_are_counted_by_place_and_logged_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(_safety, "RAISE_INTERNAL_ERRORS", False)
    with caplog.at_level(logging.WARNING, logger="fleetobs.internal"):
        for _ in range(3):
            _safety.internal_error(ValueError("broken"), "db.span")
        _safety.internal_error(KeyError("x"), "cache.record")
    assert get_sample_value("fleetobs_internal_errors_total", {"where": "db.span"}) == 3.0
    assert get_sample_value("fleetobs_internal_errors_total", {"where": "cache.record"}) == 1.0
    assert [r.getMessage() for r in caplog.records].count(
        "fleetobs internal error in db.span (reported once)"
    ) == 1


def test_a_broken_counter_never_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_safety, "RAISE_INTERNAL_ERRORS", False)
    monkeypatch.setattr("instrumentation.metrics.get", lambda name: 1 / 0)
    _safety.internal_error(ValueError("broken"), "db.span")
