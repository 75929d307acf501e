"""The few Prometheus HTTP API calls a snapshot makes, over the standard library.

``query`` and ``query_range`` run panel targets; ``series``, ``label_values`` and ``metric_names``
list what exists, for template variables and for telling why a panel is empty; ``scrape_interval``
reads the server's own configuration. A query Prometheus refuses raises :class:`QueryError`
with its message; a server that cannot be reached raises :class:`PrometheusUnavailable`.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import Any

import yaml

from dashboards.expand import DEFAULT_SCRAPE_INTERVAL

_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


class QueryError(Exception):
    """Prometheus answered, and refused the request (bad query, timeout...)."""


class PrometheusUnavailable(Exception):  # noqa: N818 - reads as the condition it reports
    """Prometheus did not answer."""


def parse_duration(text: str) -> float:
    """Seconds in a Prometheus duration such as ``15s``, ``1m30s`` or ``500ms``."""
    total, number = 0.0, ""
    i = 0
    while i < len(text):
        char = text[i]
        if char.isdigit() or char == ".":
            number += char
            i += 1
            continue
        unit = "ms" if text.startswith("ms", i) else char
        if unit not in _DURATION_UNITS or not number:
            raise ValueError(f"not a duration: {text!r}")
        total += float(number) * _DURATION_UNITS[unit]
        number = ""
        i += len(unit)
    if number:
        raise ValueError(f"not a duration (no unit): {text!r}")
    return total


class Prometheus:
    """A Prometheus server's HTTP API at ``url`` (``http://host:9090``, any path prefix kept)."""

    def __init__(self, url: str, *, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def _get(
        self, path: str, params: Mapping[str, Any] | Sequence[tuple[str, Any]], *, post: bool = False
    ) -> Any:
        query = urllib.parse.urlencode(params, doseq=True)
        address = f"{self.url}/api/v1/{path}?{query}"
        # POST keeps long expressions out of the URL, as Grafana's default does.
        request = urllib.request.Request(  # noqa: S310 - the user gives the URL
            f"{self.url}/api/v1/{path}" if post else address,
            data=query.encode() if post else None,
            headers={"Content-Type": "application/x-www-form-urlencoded"} if post else {},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as reply:  # noqa: S310
                payload = json.loads(reply.read())
        except urllib.error.HTTPError as exc:
            try:
                payload = json.loads(exc.read())
            except ValueError:
                raise PrometheusUnavailable(f"{address}: HTTP {exc.code}") from exc
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise PrometheusUnavailable(f"{self.url}: {reason}") from exc
        if payload.get("status") != "success":
            raise QueryError(f"{payload.get('errorType')}: {payload.get('error')}")
        return payload["data"]

    def query(self, expr: str, time: float) -> list[dict[str, Any]]:
        data = self._get("query", {"query": expr, "time": f"{time:.3f}"}, post=True)
        if data.get("resultType") == "scalar":
            return [{"metric": {}, "value": data["result"]}]
        result: list[dict[str, Any]] = data["result"]
        return result

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[dict[str, Any]]:
        params = {"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"}
        result: list[dict[str, Any]] = self._get("query_range", params, post=True)["result"]
        return result

    def series(self, selector: str, start: float, end: float, *, limit: int = 1) -> list[dict[str, str]]:
        params = [("match[]", selector), ("start", f"{start:.3f}"), ("end", f"{end:.3f}"), ("limit", limit)]
        found: list[dict[str, str]] = self._get("series", params, post=True)
        return found

    def label_values(self, label: str, selector: str, start: float, end: float) -> list[str]:
        params = [("match[]", selector), ("start", f"{start:.3f}"), ("end", f"{end:.3f}")]
        values: list[str] = self._get(f"label/{urllib.parse.quote(label)}/values", params)
        return sorted(values)

    @cached_property
    def metric_names(self) -> frozenset[str]:
        """Every metric name the server has stored, whatever the time."""
        names: list[str] = self._get("label/__name__/values", {})
        return frozenset(names)

    def scrape_interval(self) -> float:
        """The global scrape interval of the server's configuration (what a Grafana datasource is
        told as its *scrape interval*); Grafana's default when it cannot be read."""
        try:
            config = yaml.safe_load(self._get("status/config", {})["yaml"])
            return parse_duration(str(config["global"]["scrape_interval"]))
        except (QueryError, KeyError, TypeError, ValueError, yaml.YAMLError):
            return DEFAULT_SCRAPE_INTERVAL
