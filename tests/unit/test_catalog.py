"""The catalogue is well formed (docs/metrics.md is checked by `fleetobs generate --check`)."""

from __future__ import annotations

import re

from instrumentation.catalog import METRICS, metric, series_names

NAME = re.compile(r"[a-z_][a-z0-9_]*")


def test_names_and_labels_are_valid_prometheus_identifiers() -> None:
    for m in METRICS:
        assert NAME.fullmatch(m.name), m.name
        assert all(NAME.fullmatch(label) and not label.startswith("__") for label in m.labels), m
        assert "le" not in m.labels
        assert not m.name.endswith("_total")


def test_names_do_not_encode_their_labels() -> None:
    for m in METRICS:
        assert "_by_" not in m.name, m.name


def test_series_names() -> None:
    names = series_names()
    assert "http_server_request_duration_seconds_bucket" in names
    assert "fleetobs_db_n_plus_one_total" in names
    assert metric("fleetobs_build_info").type == "gauge"


def test_public_api_is_pinned() -> None:
    import instrumentation
    import instrumentation.catalog

    assert instrumentation.__all__ == ["__version__"]
    assert set(instrumentation.catalog.__all__) == {
        "CLIENT_CLOSED_REQUEST",
        "HTTP_METHODS",
        "LOG_FIELDS",
        "METRICS",
        "UNMATCHED_ROUTE",
        "WEBSOCKET_CLOSE_REASONS",
        "LogField",
        "Metric",
        "log_field",
        "metric",
        "series_names",
    }
