"""A small read-only JSON-over-HTTP client shared by every backend the doctor talks to.

Only the standard library: the doctor must run wherever ``fleetobs`` is installed. Two kinds of
failure are told apart, because they mean different things to the report:
:class:`BackendUnreachableError` (connection refused, timeout, not JSON: the backend cannot be
checked, exit 2)
and :class:`HttpError` (the backend answered with an error status, which a check may interpret,
e.g. 404 for a missing index template).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

DEFAULT_TIMEOUT = 10.0


class BackendUnreachableError(Exception):
    """The backend cannot be asked: the message says why."""


class HttpError(Exception):
    """The backend answered ``status``; ``body`` is its decoded answer when it was JSON."""

    def __init__(self, status: int, url: str, body: Any) -> None:
        self.status = status
        self.url = url
        self.body = body
        super().__init__(f"{url} answered {status}")


@dataclass(frozen=True)
class Client:
    """``base`` URL plus headers; every method returns decoded JSON."""

    base: str
    headers: Mapping[str, str] = field(default_factory=dict)
    timeout: float = DEFAULT_TIMEOUT

    def __post_init__(self) -> None:
        if urllib.parse.urlsplit(self.base).scheme not in ("http", "https"):
            raise ValueError(f"URL must start with http:// or https://, got {self.base!r}")

    def url(self, path: str, params: Mapping[str, Any] | list[tuple[str, Any]] | None = None) -> str:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        return f"{self.base.rstrip('/')}{path}{query}"

    def get(self, path: str, params: Mapping[str, Any] | list[tuple[str, Any]] | None = None) -> Any:
        return self._send("GET", self.url(path, params), None)

    def post_form(self, path: str, params: Mapping[str, Any] | list[tuple[str, Any]]) -> Any:
        """POST url-encoded parameters (Prometheus accepts queries this way: no URL length limit)."""
        data = urllib.parse.urlencode(params).encode()
        return self._send("POST", self.url(path), data, "application/x-www-form-urlencoded")

    def post_json(self, path: str, body: Any) -> Any:
        return self._send("POST", self.url(path), json.dumps(body).encode(), "application/json")

    def _send(self, method: str, url: str, data: bytes | None, content_type: str | None = None) -> Any:
        headers = {"Accept": "application/json", **self.headers}
        if content_type:
            headers["Content-Type"] = content_type
        request = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310 - scheme checked
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 - scheme checked
                payload = response.read()
        except urllib.error.HTTPError as exc:
            with exc:
                raw = exc.read()
            raise HttpError(exc.code, url, _decode(raw)) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise BackendUnreachableError(f"cannot connect to {self.base}: {reason}") from None
        try:
            return json.loads(payload) if payload else None
        except ValueError:
            raise BackendUnreachableError(f"{url} did not answer JSON: {payload[:80]!r}") from None


def _decode(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return raw.decode("utf-8", errors="replace")
