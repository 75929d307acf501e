"""The public entry points of the alerting package.

``write_rules`` and ``alertmanager_config`` are what the demo and the end-to-end tests use; the
command line (:mod:`alerting.cli`) is built on the same functions. Everything is a pure function of
the SLO spec (see :mod:`alerting.slo`), the link base URLs and the time scale::

    write_rules(out, slo_file)                   -> out/fleetobs-recording.yml, -slo.yml, -alerts.yml
    alertmanager_config(webhook_url)             -> dict, every receiver posting to webhook_url
    alertmanager_yaml(spec) / write_alertmanager -> the real config (Slack, e-mail, PagerDuty)
    prometheus_rule_document(spec)               -> the Kubernetes PrometheusRule

``time_scale`` (default 1) shrinks every window, ``for:`` and Alertmanager timer together, so a
variant with ``time_scale=1/60`` behaves like the real rules with an hour lasting a minute.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from alerting import alertmanager, recording, slo_rules
from alerting import alerts as alert_families
from alerting.context import Context
from alerting.kubernetes import prometheus_rule
from alerting.model import Alert, RuleGroup
from alerting.promql import Durations
from alerting.render import dump, write
from alerting.slo import Spec, load_spec

__all__ = [
    "RULE_FILES",
    "alert_names",
    "alertmanager_config",
    "alertmanager_yaml",
    "alerts",
    "build_context",
    "prometheus_rule_document",
    "rule_files",
    "write_alertmanager",
    "write_rules",
]

RULE_FILES = ("fleetobs-recording.yml", "fleetobs-slo.yml", "fleetobs-alerts.yml")


def build_context(
    spec: Spec | None = None,
    time_scale: float = 1.0,
    grafana_url: str | None = None,
    runbook_url: str | None = None,
) -> Context:
    spec = spec or Spec()
    links = spec.links
    if grafana_url:
        links = replace(links, grafana=grafana_url)
    if runbook_url:
        links = replace(links, runbooks=runbook_url)
    return Context(replace(spec, links=links), Durations(time_scale))


def rule_files(ctx: Context) -> dict[str, tuple[RuleGroup, ...]]:
    """Rule groups by file name, in the order Prometheus should load them."""
    return {
        RULE_FILES[0]: recording.groups(ctx),
        RULE_FILES[1]: slo_rules.groups(ctx),
        RULE_FILES[2]: alert_families.groups(ctx),
    }


def alert_names(ctx: Context | None = None) -> list[str]:
    """Every alert name the rules define, sorted."""
    ctx = ctx or build_context()
    return sorted({a.alert for groups in rule_files(ctx).values() for g in groups for a in g.alerts()})


def alerts(ctx: Context) -> list[Alert]:
    return [a for groups in rule_files(ctx).values() for g in groups for a in g.alerts()]


def write_rules(
    out_dir: Path,
    slo_file: Path | None = None,
    *,
    time_scale: float = 1.0,
    grafana_url: str | None = None,
    runbook_url: str | None = None,
) -> list[Path]:
    """Write the Prometheus rule files into ``out_dir``; returns their paths."""
    ctx = build_context(load_spec(slo_file), time_scale, grafana_url, runbook_url)
    out_dir = Path(out_dir)
    return [
        write(out_dir / name, {"groups": [g.to_dict() for g in groups]})
        for name, groups in rule_files(ctx).items()
    ]


def alertmanager_config(
    webhook_url: str, *, slo_file: Path | None = None, time_scale: float = 1.0
) -> dict[str, Any]:
    """An Alertmanager config whose every receiver posts to ``webhook_url``; same routing and inhibition."""
    return alertmanager.config(load_spec(slo_file), webhook_url=webhook_url, time_scale=time_scale)


def alertmanager_yaml(spec: Spec) -> str:
    """The production Alertmanager config (Slack, e-mail, PagerDuty, heartbeat) as YAML text."""
    return dump(alertmanager.config(spec))


def write_alertmanager(path: Path, spec: Spec) -> Path:
    """Write the production Alertmanager configuration to ``path``."""
    return write(Path(path), alertmanager.config(spec))


def prometheus_rule_document(
    ctx: Context, name: str = "fleetobs", labels: dict[str, str] | None = None
) -> str:
    """The Kubernetes ``PrometheusRule`` holding every rule group, as YAML text."""
    groups = [g for gs in rule_files(ctx).values() for g in gs]
    return dump(prometheus_rule(groups, name=name, labels=labels))
