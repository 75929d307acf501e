"""Regression guard for the request path's cost: a short run of the overhead benchmark.

It fails only on a gross regression: this project with every signal on and every trace sampled
costing more CPU per request than the stack it replaces (django-prometheus + OpenTelemetry's
Django instrumentation + django-structlog). Timings on a shared machine are noisy, so nothing
tighter is asserted; the full measurement is ``make bench`` (docs/performance.md).
"""

from __future__ import annotations

import pytest

from benchmarks import overhead

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def short_run() -> dict:
    plan = overhead.Plan(
        configs=("bare", "ours-100", "anchor"), views=("trivial",), rounds=3, requests={"trivial": 300}
    )
    return overhead.run(plan, log=lambda message: None)


def _overhead_us(result: dict, name: str) -> float:
    return result["configs"][name]["views"]["trivial"]["cpu"]["overhead_us"]["median"]


def test_everything_on_costs_less_than_the_anchor_stack(short_run: dict) -> None:
    ours = _overhead_us(short_run, "ours-100")
    anchor = _overhead_us(short_run, "anchor")
    assert ours < anchor, (
        f"this project adds {ours:.0f} µs of CPU per request with everything on, the anchor stack "
        f"{anchor:.0f} µs: the request path has regressed grossly (see make bench)"
    )


def test_the_measured_configuration_really_emits_every_signal(short_run: dict) -> None:
    probe = short_run["configs"]["ours-100"]["probe"]
    assert probe["statuses"] == {"200 OK": 5}
    assert probe["log_lines_per_request"] == 1.0
    assert '"fleetobs.access"' in probe["log_line_sample"]
    assert probe["spans"]["export_calls"] > 0
    assert probe["spans"]["bytes"] > 0
