"""The dashboard-linter rule set holds for every generated dashboard, and catches violations."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from dashboards import generate, uids
from tests.dashboards import walk
from tests.dashboards.linter import RULES, lint

NAMES = sorted(generate.dashboards())


@pytest.mark.parametrize("name", NAMES)
def test_generated_dashboards_pass_every_rule(generated: dict[str, Any], name: str) -> None:
    assert lint(generated[name]) == []


def test_the_rule_set_is_the_reference_one() -> None:
    assert set(RULES) == {
        "template-datasource",
        "template-job",
        "template-instance",
        "template-label-promql",
        "template-on-time-change-reload",
        "panel-datasource",
        "panel-title-description",
        "panel-units",
        "panel-no-targets",
        "target-promql",
        "target-rate-interval",
        "target-job",
        "target-instance",
        "target-counter-agg",
        "uneditable-dashboard",
    }


def _first_target(d: dict[str, Any]) -> dict[str, Any]:
    return next(t for _, t in walk.prometheus_targets(d))


def _first_panel(d: dict[str, Any], kind: str = "timeseries") -> dict[str, Any]:
    return next(p for p in walk.panels(d) if p.get("type") == kind)


def _set_var(name: str, key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(d: dict[str, Any]) -> None:
        var = walk.variable(d, name)
        assert var is not None
        var[key] = value

    return mutate


def _drop_var(name: str) -> Callable[[dict[str, Any]], None]:
    def mutate(d: dict[str, Any]) -> None:
        d["templating"]["list"] = [v for v in walk.variables(d) if v["name"] != name]

    return mutate


def _expr(expr: str) -> Callable[[dict[str, Any]], None]:
    def mutate(d: dict[str, Any]) -> None:
        _first_target(d)["expr"] = expr

    return mutate


SCOPE = 'job=~"$job", instance=~"$instance", environment=~"$environment"'
MUTATIONS: dict[str, tuple[str, Callable[[dict[str, Any]], None]]] = {
    "no datasource variable": ("template-datasource", _drop_var("datasource")),
    "datasource variable misnamed": ("template-datasource", _set_var("datasource", "name", "ds")),
    "no job variable": ("template-job", _drop_var("job")),
    "job not multi": ("template-job", _set_var("job", "multi", False)),
    "instance all value": ("template-instance", _set_var("instance", "allValue", "")),
    "no instance variable on a Prometheus dashboard": ("template-instance", _drop_var("instance")),
    "bad variable query": ("template-label-promql", _set_var("job", "query", "label_values(up{, job)")),
    "variable reloads on load only": ("template-on-time-change-reload", _set_var("job", "refresh", 1)),
    "fixed datasource": (
        "panel-datasource",
        lambda d: _first_panel(d).update(datasource={"type": "prometheus", "uid": "prometheus"}),
    ),
    "no description": ("panel-title-description", lambda d: _first_panel(d).pop("description")),
    "no unit": ("panel-units", lambda d: _first_panel(d)["fieldConfig"]["defaults"].pop("unit")),
    "no targets": ("panel-no-targets", lambda d: _first_panel(d).update(targets=[])),
    "unparsable query": (
        "target-promql",
        _expr(f"sum(rate(fleetobs_db_errors_total{{{SCOPE}}}[$__rate_interval])"),
    ),
    "fixed rate window": (
        "target-rate-interval",
        _expr(f"sum(rate(fleetobs_db_errors_total{{{SCOPE}}}[5m]))"),
    ),
    "no job matcher": (
        "target-job",
        _expr('sum(rate(fleetobs_db_errors_total{instance=~"$instance"}[$__rate_interval]))'),
    ),
    "no instance matcher": (
        "target-instance",
        _expr('sum(rate(fleetobs_db_errors_total{job=~"$job"}[$__rate_interval]))'),
    ),
    "raw counter": ("target-counter-agg", _expr(f"sum(fleetobs_db_errors_total{{{SCOPE}}})")),
    "editable": ("uneditable-dashboard", lambda d: d.update(editable=True)),
}


@pytest.mark.parametrize("case", sorted(MUTATIONS))
def test_each_rule_catches_its_violation(generated: dict[str, Any], case: str) -> None:
    rule, mutate = MUTATIONS[case]
    dashboard = copy.deepcopy(generated[f"{uids.OVERVIEW}.json"])
    mutate(dashboard)
    problems = lint(dashboard)
    assert any(p.startswith(f"{rule}: ") for p in problems), problems
