"""Regression guard for the request path's cost: a short run of the overhead benchmark.

It fails only on a gross regression: this project with every signal on and every trace sampled
costing more CPU per request than the stack it replaces (django-prometheus with its database
wrapper + OpenTelemetry's Django and sqlite3 instrumentation + django-structlog), on the trivial
view, the view logging one application line and the view running 50 queries. Timings on a
shared machine are noisy, so nothing tighter is asserted; the full measurement is ``make bench``
(docs/performance.md).
"""

from __future__ import annotations

import pytest

from benchmarks import overhead

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def short_run() -> dict:
    plan = overhead.Plan(
        configs=("bare", "ours-100", "anchor"),
        views=VIEWS,
        rounds=3,
        requests={"trivial": 300, "applog": 300, "raw-50": 20},
    )
    return overhead.run(plan, log=lambda message: None)


VIEWS = ("trivial", "applog", "raw-50")


def _overhead_us(result: dict, name: str, view: str) -> float:
    return result["configs"][name]["views"][view]["cpu"]["overhead_us"]["median"]


@pytest.mark.parametrize("view", VIEWS)
def test_everything_on_costs_less_than_the_anchor_stack(short_run: dict, view: str) -> None:
    ours = _overhead_us(short_run, "ours-100", view)
    anchor = _overhead_us(short_run, "anchor", view)
    assert ours < anchor, (
        f"{view}: this project adds {ours:.0f} µs of CPU per request with everything on, the anchor "
        f"stack {anchor:.0f} µs: the request path has regressed grossly (see make bench)"
    )


def test_the_database_and_log_views_emit_their_lines(short_run: dict) -> None:
    by_view = short_run["configs"]["ours-100"]["probe"]["log_lines_per_request_by_view"]
    assert by_view["applog"] == 2.0  # the access line and the application line
    assert by_view["raw-50"] == 3.0  # and the N+1 warning
    assert '"order placed"' in short_run["configs"]["ours-100"]["probe"]["app_log_line_sample"]
    assert '"order placed"' in short_run["configs"]["anchor"]["probe"]["app_log_line_sample"]


def test_the_measured_configuration_really_emits_every_signal(short_run: dict) -> None:
    probe = short_run["configs"]["ours-100"]["probe"]
    assert probe["statuses"] == {"200 OK": 5}
    assert probe["log_lines_per_request"] == 1.0
    assert '"fleetobs.access"' in probe["log_line_sample"]
    assert probe["spans"]["export_calls"] > 0
    assert probe["spans"]["bytes"] > 0
