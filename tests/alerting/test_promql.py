"""Expression helpers refuse anything the signal catalogue does not declare."""

from __future__ import annotations

import pytest

from alerting import promql


def test_series_accepts_catalogue_names_and_labels() -> None:
    assert promql.series("http_server_request_duration_seconds_bucket", 'le="0.5"', 'job="shop"') == (
        'http_server_request_duration_seconds_bucket{le="0.5", job="shop"}'
    )
    assert promql.series("fleetobs_db_connection_errors_total") == "fleetobs_db_connection_errors_total"
    assert promql.series("up", 'job="shop"') == 'up{job="shop"}'


@pytest.mark.parametrize(
    ("name", "matchers", "message"),
    [
        ("http_requests_total", (), "not in the signal catalogue"),
        ("fleetobs_db_connection_errors", (), "not in the signal catalogue"),  # counter without _total
        ("fleetobs_process_open_fds_total", (), "not in the signal catalogue"),  # gauge with _total
        ("http_server_request_duration_seconds_count", ('status="500"',), "no label 'status'"),
        ("http_server_request_duration_seconds_count", ('le="1"',), "no label 'le'"),
        ("up", ("job=shop",), "malformed"),
    ],
)
def test_series_rejects_unknown_names_and_labels(name: str, matchers: tuple[str, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        promql.series(name, *matchers)


def test_by_clauses_are_checked() -> None:
    with pytest.raises(ValueError, match="route"):
        promql.sum_rate("http_server_request_duration_seconds_count", "5m", ("job", "route"))


def test_le_matcher_covers_both_float_spellings() -> None:
    assert promql.le_matcher(0.5) == 'le="0.5"'
    assert promql.le_matcher(1.0) == 'le=~"1|1\\\\.0"'


@pytest.mark.parametrize(
    ("scale", "nominal", "scaled"),
    [
        (1.0, "1h", "1h"),
        (1 / 60, "1h", "1m"),
        (1 / 60, "5m", "5s"),
        (1 / 60, "30d", "12h"),
        (1 / 60, "1m", "2s"),
        (1 / 120, "5m", "2500ms"),
        (0.0166667, "30d", "12h"),
        (0.0166667, "1h", "1m"),
    ],
)
def test_durations_scale_windows(scale: float, nominal: str, scaled: str) -> None:
    assert promql.Durations(scale)(nominal) == scaled


def test_durations_validate() -> None:
    with pytest.raises(ValueError, match="time_scale"):
        promql.Durations(2.0)
    with pytest.raises(ValueError, match="invalid duration"):
        promql.parse_duration("1h30m")
