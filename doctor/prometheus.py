"""The Prometheus HTTP API, read-only: the calls the checks make, with their answers decoded.

Every query goes out as a form POST (``/api/v1/query``, ``/api/v1/query_range``), which
Prometheus accepts for any length of expression. A query Prometheus rejects (bad syntax, a
vector-matching error) raises :class:`QueryError` with Prometheus's own ``errorType`` and
message; a Prometheus that cannot be reached raises :class:`doctor.http.BackendUnreachableError`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from doctor.http import BackendUnreachableError, Client, HttpError

Series = dict[str, Any]


class QueryError(Exception):
    """Prometheus refused a query; ``kind`` is its ``errorType`` (``bad_data``, ``execution``...)."""

    def __init__(self, kind: str, message: str) -> None:
        self.kind = kind
        self.message = message
        super().__init__(f"{kind}: {message}")


@dataclass(frozen=True)
class Prometheus:
    client: Client

    @classmethod
    def at(cls, url: str, timeout: float = 10.0) -> Prometheus:
        return cls(Client(url, timeout=timeout))

    @property
    def url(self) -> str:
        return self.client.base

    def _data(self, method: str, path: str, params: Sequence[tuple[str, Any]] = ()) -> Any:
        try:
            if method == "POST":
                payload = self.client.post_form(f"/api/v1/{path}", list(params))
            else:
                payload = self.client.get(f"/api/v1/{path}", list(params))
        except HttpError as exc:
            body = exc.body if isinstance(exc.body, dict) else {}
            if body.get("status") == "error":
                raise QueryError(str(body.get("errorType")), str(body.get("error"))) from None
            raise BackendUnreachableError(
                f"{exc.url} answered {exc.status}; is {self.url} a Prometheus?"
            ) from None
        if not isinstance(payload, dict) or "status" not in payload:
            raise BackendUnreachableError(f"{self.url} does not answer like a Prometheus (/api/v1/{path})")
        if payload["status"] != "success":
            raise QueryError(str(payload.get("errorType")), str(payload.get("error")))
        return payload.get("data")

    # -- queries ---------------------------------------------------------------------------
    def query(self, expr: str, at: float | None = None) -> list[Series]:
        params = [("query", expr)] + ([("time", f"{at:.3f}")] if at is not None else [])
        data = self._data("POST", "query", params)
        result = data.get("result", [])
        if data.get("resultType") in ("scalar", "string"):
            return [{"metric": {}, "value": result}]
        return list(result)

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[Series]:
        params = [("query", expr), ("start", f"{start:.3f}"), ("end", f"{end:.3f}"), ("step", f"{step:g}")]
        data = self._data("POST", "query_range", params)
        return [s for s in data.get("result", []) if s.get("values")]

    def values(self, expr: str, at: float | None = None) -> dict[tuple[tuple[str, str], ...], float]:
        """An instant query as {sorted label pairs: value}."""
        out = {}
        for series in self.query(expr, at):
            out[tuple(sorted(series.get("metric", {}).items()))] = float(series["value"][1])
        return out

    def label_values(
        self, label: str, match: Sequence[str] = (), start: float | None = None, end: float | None = None
    ) -> list[str]:
        params: list[tuple[str, Any]] = [("match[]", m) for m in match]
        if start is not None and end is not None:
            params += [("start", f"{start:.3f}"), ("end", f"{end:.3f}")]
        return list(self._data("GET", f"label/{label}/values", params) or [])

    def label_names(
        self, match: Sequence[str] = (), start: float | None = None, end: float | None = None
    ) -> list[str]:
        params: list[tuple[str, Any]] = [("match[]", m) for m in match]
        if start is not None and end is not None:
            params += [("start", f"{start:.3f}"), ("end", f"{end:.3f}")]
        return list(self._data("GET", "labels", params) or [])

    # -- state -----------------------------------------------------------------------------
    def targets(self) -> list[dict[str, Any]]:
        return list(self._data("GET", "targets", [("state", "active")]).get("activeTargets", []))

    def rule_groups(self) -> list[dict[str, Any]]:
        return list(self._data("GET", "rules").get("groups", []))

    def alertmanagers(self) -> list[str]:
        return [a["url"] for a in self._data("GET", "alertmanagers").get("activeAlertmanagers", [])]

    def ping(self) -> None:
        """Raise :class:`BackendUnreachableError` unless ``url`` answers like a Prometheus."""
        self._data("GET", "status/buildinfo")

    @staticmethod
    def now() -> float:
        return time.time()
