"""The same rule groups as a Prometheus Operator ``PrometheusRule`` resource.

kube-prometheus-stack only loads ``PrometheusRule`` objects matching its ``ruleSelector``
(by default the label ``release: <helm release name>``); pass that label in ``labels``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from alerting.model import RuleGroup

DEFAULT_LABELS = {
    "app.kubernetes.io/name": "fleetobs",
    "app.kubernetes.io/part-of": "django-fleet-observability",
    "role": "alert-rules",
}


def prometheus_rule(
    groups: Iterable[RuleGroup], name: str = "fleetobs", labels: Mapping[str, str] | None = None
) -> dict[str, Any]:
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": name, "labels": {**DEFAULT_LABELS, **(labels or {})}},
        "spec": {"groups": [g.to_dict() for g in groups]},
    }
