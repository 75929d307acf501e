"""The series estimate docs/scaling.md carries (written by `fleetobs generate`) counts right."""

from __future__ import annotations

import math

import pytest

from instrumentation.catalog import METRICS, metric
from tests.deploy import series_estimate


def test_every_catalogue_label_has_a_cardinality_assumption() -> None:
    labels = {label for m in METRICS for label in m.labels}
    assert labels <= set(series_estimate.ASSUMPTIONS), labels - set(series_estimate.ASSUMPTIONS)


def test_histogram_series_are_buckets_plus_inf_sum_and_count() -> None:
    duration = metric("http_server_request_duration_seconds")
    (row,) = [r for r in series_estimate.rows() if r.metric is duration]
    assert row.per_combination == len(duration.buckets) + 3
    assumptions = series_estimate.ASSUMPTIONS
    expected = math.ceil(
        assumptions["http_route"]
        * assumptions["http_request_method"]
        * assumptions["http_response_status_code"]
    )
    assert row.combinations == expected
    assert row.series == expected * (len(duration.buckets) + 3)


def test_series_grow_linearly_with_routes() -> None:
    base = series_estimate.per_instance()
    doubled = series_estimate.per_instance({**series_estimate.ASSUMPTIONS, "http_route": 40})
    route_series = sum(r.series for r in series_estimate.rows() if "http_route" in r.metric.labels)
    assert doubled - base == pytest.approx(route_series, rel=0.01)


def test_a_label_without_an_assumption_is_an_error() -> None:
    assumptions = {k: v for k, v in series_estimate.ASSUMPTIONS.items() if k != "http_route"}
    with pytest.raises(KeyError, match="http_route"):
        series_estimate.rows(assumptions)


def test_command_line_prints_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert series_estimate.main(["--routes", "150"]) == 0
    output = capsys.readouterr().out
    assert "150 routes" in output
    assert "| **total** |" in output
