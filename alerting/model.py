"""The rule objects the generators build, and their YAML form.

A :class:`RuleGroup` holds :class:`Record` and :class:`Alert` rules in evaluation order (Prometheus
evaluates a group's rules one after another, so an alert placed after the records it reads sees
fresh values). :meth:`RuleGroup.to_dict` gives exactly the structure of a Prometheus rule file
group, which both the plain rule files and the Kubernetes ``PrometheusRule`` embed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

SEVERITIES = ("critical", "warning", "info")
ALERT_PREFIX = "Fleetobs"
#: Alert names exempt from the prefix: the heartbeat keeps the name dead man's switches expect.
UNPREFIXED = frozenset({"Watchdog"})

_RECORD_NAME = re.compile(r"^[a-z_]+:[a-z0-9_]+:[a-z0-9_]+$")
_ALERT_NAME = re.compile(r"^[A-Z][A-Za-z0-9]+$")


@dataclass(frozen=True)
class Record:
    """A recording rule named ``level:metric:operations``."""

    record: str
    expr: str
    labels: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not _RECORD_NAME.match(self.record):
            raise ValueError(f"recording rule {self.record!r} must be named level:metric:operations")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"record": self.record, "expr": self.expr}
        if self.labels:
            out["labels"] = dict(self.labels)
        return out


@dataclass(frozen=True)
class Alert:
    """An alerting rule with the annotations every alert must carry."""

    alert: str
    expr: str
    severity: str
    summary: str
    description: str
    runbook_url: str
    dashboard_url: str
    for_: str = ""
    labels: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(
                f"alert {self.alert}: severity must be one of {SEVERITIES}, got {self.severity!r}"
            )
        if not _ALERT_NAME.match(self.alert):
            raise ValueError(f"alert name {self.alert!r} must be CamelCase")
        if self.alert not in UNPREFIXED and not self.alert.startswith(ALERT_PREFIX):
            raise ValueError(f"alert name {self.alert!r} must start with {ALERT_PREFIX!r}")
        if "$value" not in self.description:
            raise ValueError(f"alert {self.alert}: the description must show the measured value ($value)")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"alert": self.alert, "expr": self.expr}
        if self.for_:
            out["for"] = self.for_
        out["labels"] = {"severity": self.severity, **self.labels}
        out["annotations"] = {
            "summary": self.summary,
            "description": self.description,
            "runbook_url": self.runbook_url,
            "dashboard_url": self.dashboard_url,
        }
        return out


@dataclass(frozen=True)
class RuleGroup:
    """A named group of rules, written to one rule file together with its siblings."""

    name: str
    rules: tuple[Record | Alert, ...]
    interval: str = ""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        if self.interval:
            out["interval"] = self.interval
        out["rules"] = [r.to_dict() for r in self.rules]
        return out

    def alerts(self) -> tuple[Alert, ...]:
        return tuple(r for r in self.rules if isinstance(r, Alert))
