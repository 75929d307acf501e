"""Alertmanager's routing tree, walked in Python the way ``amtool config routes test`` walks it.

A dry run: no alert is posted and nothing is notified. The live configuration comes from
Alertmanager's ``/api/v2/status`` (``config.original``), the expected one from
:mod:`alerting.alertmanager`; the same labels are routed through both and the receivers compared.

Semantics (Alertmanager's ``dispatch.Route.Match``): a route matches when all its matchers do; its
children are tried in order, each matching child contributes its own matches, and the walk stops
after the first matching child unless that child has ``continue: true``; a route none of whose
children match is itself the match. A child without ``receiver`` inherits its parent's. Matchers
are the ``matchers`` list (``label="v"``, ``=~``, ``!=``, ``!~``; regexes anchored) and the legacy
``match`` / ``match_re`` maps.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_MATCHER = re.compile(r"""^\s*([a-zA-Z_][a-zA-Z0-9_]*|"[^"]*")\s*(=~|!~|!=|=)\s*(.*?)\s*$""")


class RoutingConfigError(ValueError):
    """The configuration's routing tree cannot be read."""


@dataclass(frozen=True)
class LabelMatcher:
    label: str
    op: str
    value: str

    def matches(self, labels: Mapping[str, str]) -> bool:
        have = labels.get(self.label, "")
        if self.op == "=":
            return have == self.value
        if self.op == "!=":
            return have != self.value
        found = re.fullmatch(f"(?:{self.value})", have) is not None
        return found if self.op == "=~" else not found


def parse_matcher(text: str) -> LabelMatcher:
    match = _MATCHER.match(text.strip().strip("{}"))
    if not match:
        raise RoutingConfigError(f"cannot read matcher {text!r}")
    label, op, value = match.groups()
    if value.startswith('"') and value.endswith('"') and len(value) >= 2:
        value = re.sub(r"\\(.)", r"\1", value[1:-1])
    return LabelMatcher(label.strip('"'), op, value)


def _matchers(route: Mapping[str, Any]) -> list[LabelMatcher]:
    found = [parse_matcher(str(m)) for m in route.get("matchers") or []]
    found += [LabelMatcher(str(k), "=", str(v)) for k, v in (route.get("match") or {}).items()]
    found += [LabelMatcher(str(k), "=~", str(v)) for k, v in (route.get("match_re") or {}).items()]
    return found


def _walk(route: Mapping[str, Any], labels: Mapping[str, str], receiver: str, root: bool) -> list[str]:
    receiver = str(route.get("receiver") or receiver)
    if not root and not all(m.matches(labels) for m in _matchers(route)):
        return []
    found: list[str] = []
    for child in route.get("routes") or []:
        matches = _walk(child, labels, receiver, root=False)
        found.extend(matches)
        if matches and not child.get("continue"):
            break
    return found or [receiver]


def receivers(config: Mapping[str, Any], labels: Mapping[str, str]) -> list[str]:
    """Receivers an alert with ``labels`` reaches through ``config``'s routing tree, in order."""
    route = config.get("route")
    if not isinstance(route, Mapping):
        raise RoutingConfigError("the configuration has no route")
    return _walk(route, labels, str(route.get("receiver", "")), root=True)
