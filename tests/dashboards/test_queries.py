"""The query helpers accept only what the catalogue declares."""

from __future__ import annotations

import pytest

from dashboards import logsearch, queries
from instrumentation.catalog import metric

HTTP = metric("http_server_request_duration_seconds")
ERRORS = metric("fleetobs_db_errors")
WORKERS = metric("fleetobs_server_workers")


def test_selector_is_scoped_to_the_dashboard_variables() -> None:
    assert queries.selector(ERRORS, matchers={"db_alias": "default"}) == (
        'fleetobs_db_errors_total{job=~"$job", instance=~"$instance", environment=~"$environment", '
        'db_alias="default"}'
    )


def test_rate_uses_rate_interval_and_the_counter_series() -> None:
    assert queries.rate(ERRORS, by=("error_type",)) == (
        "sum by (error_type) (rate(fleetobs_db_errors_total"
        '{job=~"$job", instance=~"$instance", environment=~"$environment"}[$__rate_interval]))'
    )


@pytest.mark.parametrize(
    "call",
    [
        lambda: queries.selector(ERRORS, matchers={"http_route": "x"}),
        lambda: queries.rate(HTTP, "count", by=("db_alias",)),
        lambda: queries.rate(HTTP, "count", matchers={"le": "0.5"}),
        lambda: queries.quantile(0.95, HTTP, by=("status",)),
        lambda: queries.gauge(WORKERS, by=("generation",)),
    ],
)
def test_undeclared_labels_raise(call: object) -> None:
    with pytest.raises(ValueError, match="not declared"):
        call()  # type: ignore[operator]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: queries.series_name(HTTP), "needs series"),
        (lambda: queries.series_name(ERRORS, "bucket"), "has no"),
        (lambda: queries.rate(WORKERS), "meaningless"),
        (lambda: queries.gauge(ERRORS), "not a gauge"),
        (lambda: queries.quantile(0.95, ERRORS), "not a histogram"),
        (lambda: queries.quantile(95, HTTP), "between 0 and 1"),
        (lambda: queries.selector(ERRORS, matchers={"db_alias": ("~", "x")}), "operator"),
        (lambda: queries.tag("x", "job", "y"), "cannot tag"),
        (lambda: queries.tag("x", "http_route", "y"), "cannot tag"),
    ],
)
def test_misuse_raises(call: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()  # type: ignore[operator]


def test_le_is_allowed_only_on_buckets() -> None:
    assert "le" in queries.allowed_labels(HTTP, "bucket")
    assert "le" not in queries.allowed_labels(HTTP, "count")


def test_unknown_metric_names_cannot_even_be_looked_up() -> None:
    with pytest.raises(KeyError):
        metric("django_http_requests_total_by_view_transport_method")


def test_log_fields_come_from_the_catalogue() -> None:
    assert logsearch.term("log.level", "error") == 'log.level:("error")'
    with pytest.raises(KeyError):
        logsearch.term("level", "error")
    with pytest.raises(KeyError):
        logsearch.count_by("A", "*", ["service"])
