"""Dashboards work on a Prometheus that attaches only ``job`` and ``instance`` to what it scrapes.

Prometheus sets ``job`` and ``instance`` on every scraped series whatever the scrape config says;
``environment`` exists only where the scrape config adds it as a target label. Every Prometheus
selector of every dashboard matches ``environment=~"$environment"``, so the ``All`` value of
``$environment`` must match a series that has no ``environment`` at all: in PromQL a matcher that
matches the empty string also matches an absent label. (The live test checks the same against a
real Prometheus scraping the sample fleet with and without the label.)
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from dashboards import generate, queries
from tests.dashboards import walk

NAMES = sorted(generate.dashboards())


def _all_value(dashboard: dict[str, Any], name: str) -> str:
    var = walk.variable(dashboard, name)
    assert var is not None, f"{dashboard['title']} has no ${name}"
    assert var["includeAll"], f"{dashboard['title']}: ${name} has no All"
    value = var["allValue"]
    assert isinstance(value, str)
    return value


def test_only_job_and_instance_are_guaranteed() -> None:
    assert set(queries.GUARANTEED_LABELS) == {"job", "instance"}
    assert set(queries.OPTIONAL_TARGET_LABELS) == {"environment"}
    assert set(queries.STANDARD_LABELS) == {"job", "instance", "environment"}


@pytest.mark.parametrize("name", NAMES)
def test_all_environments_includes_series_without_the_label(generated: dict[str, Any], name: str) -> None:
    dashboard = generated[name]
    for label in queries.OPTIONAL_TARGET_LABELS:
        if walk.variable(dashboard, label) is None:
            continue
        assert re.fullmatch(_all_value(dashboard, label), ""), (
            f"{dashboard['title']}: All of ${label} leaves out series without an {label!r} label"
        )


@pytest.mark.parametrize("name", NAMES)
def test_job_and_instance_all_match_any_value(generated: dict[str, Any], name: str) -> None:
    """The labels Prometheus always sets keep the dashboard-linter's ``.+``."""
    dashboard = generated[name]
    for label in queries.GUARANTEED_LABELS:
        if walk.variable(dashboard, label) is not None:
            assert _all_value(dashboard, label) == ".+"


@pytest.mark.parametrize("name", NAMES)
def test_environment_is_matched_as_a_regex(generated: dict[str, Any], name: str) -> None:
    """``environment="..."`` (an equality) would drop unlabelled series even under All."""
    for panel, target in walk.prometheus_targets(generated[name]):
        for match in re.finditer(r"\benvironment\s*(=~|!~|!=|=)\s*\"([^\"]*)\"", target["expr"]):
            assert match.groups() == ("=~", "$environment"), (panel["title"], target["expr"])
