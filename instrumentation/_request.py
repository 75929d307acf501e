"""What the middleware knows about one request: learned once, read by every signal.

:class:`RequestInfo` is built when the request arrives (its method, normalised once by
:func:`request_method`, the request id, the size of its body) and completed when it is served
(route, status, duration, response size, exception); the metrics, the server span and the log
lines all read it, so no signal looks at the raw request for what another already worked out.

It also decides, once per request, whether the path carries a credential. Some routes put one
in the path (Django's password reset confirmation ``reset/<uidb64>/<token>/``, invitation and
activation links, signed downloads). Once Django has resolved the URL, :func:`masked_path` looks
at the names of the URL parameters the pattern captured: those named like secrets (see
:data:`SENSITIVE_URL_KWARGS`, plus ``SENSITIVE_URL_KWARGS`` in the settings) have their values
replaced by ``[REDACTED]`` in the path that log lines and spans carry. Which parameters of a route
are sensitive is decided once per route and cached, so a route without any costs one dict
lookup. The route (the pattern) is never masked: it names parameters, not values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from instrumentation.catalog import HTTP_METHODS
from instrumentation.conf import Settings
from instrumentation.lifecycle import on_reset

#: What a masked path segment reads (the redaction's mask).
MASK = "[REDACTED]"
#: URL parameter names, or parts of names split at ``_``, ``-`` and digits, whose values are
#: credentials: ``token`` covers ``reset_token`` and ``invite_token``, ``key`` ``activation_key``
#: (but not ``keyword``). ``uidb64`` is the user half of Django's password reset link.
SENSITIVE_URL_KWARGS = frozenset(
    {
        "token",
        "tokens",
        "key",
        "keys",
        "apikey",
        "uidb64",
        "uidb36",
        "signature",
        "sig",
        "secret",
        "password",
        "passwd",
        "otp",
        "nonce",
        "hmac",
        "jwt",
        "credential",
        "credentials",
        "session",
        "sessionid",
    }
)
_NAME_PARTS = re.compile(r"[^A-Za-z]+|(?<=[a-z])(?=[A-Z])")  # resetToken: reset, Token
_MAX_ROUTES = 4096


#: The method of a request whose method is not one of :data:`HTTP_METHODS`.
OTHER_METHOD = "_OTHER"
_KNOWN_METHODS = {method: method for method in HTTP_METHODS}


def request_method(raw: str | None) -> str:
    """The method as every signal names it: one of :data:`HTTP_METHODS`, else ``_OTHER``."""
    return _KNOWN_METHODS.get(raw or "", OTHER_METHOD)


@dataclass(slots=True)
class RequestInfo:
    """One request. ``method`` is normalised (unknown methods are ``_OTHER``, the method as
    received is ``method_original``); ``route``, ``status``, ``duration_ns``,
    ``response_bytes`` and ``exception`` are known once it is served."""

    method: str
    route: str
    status: int
    duration_ns: int
    request_bytes: int
    response_bytes: int | None
    request_id: str
    exception: BaseException | None = None
    method_original: str = ""


class SensitiveRoutes:
    """Which captured parameters of each route are credentials, decided once per route."""

    __slots__ = ("_by_route", "_names")

    def __init__(self, extra: tuple[str, ...] = ()) -> None:
        self._names = SENSITIVE_URL_KWARGS | {name.strip().lower() for name in extra if name.strip()}
        self._by_route: dict[str, tuple[str, ...]] = {}

    def is_sensitive(self, name: str) -> bool:
        names = self._names
        return name.lower() in names or any(part.lower() in names for part in _NAME_PARTS.split(name))

    def of(self, route: str | None, captured: dict[str, Any]) -> tuple[str, ...]:
        """The sensitive names among ``captured`` (a route's names are fixed by its pattern)."""
        if route:
            found = self._by_route.get(route)
            if found is not None:
                return found
        found = tuple(name for name in captured if self.is_sensitive(name))
        if route and len(self._by_route) < _MAX_ROUTES:
            self._by_route[route] = found
        return found


_routes: tuple[Settings, SensitiveRoutes] | None = None


def sensitive_routes(settings: Settings) -> SensitiveRoutes:
    """The cache for these settings (a new one when the settings change)."""
    global _routes
    cached = _routes
    if cached is None or cached[0] is not settings:
        cached = _routes = (settings, SensitiveRoutes(settings.sensitive_url_kwargs))
    return cached[1]


def masked_path(path: str, match: Any, routes: SensitiveRoutes) -> str | None:
    """``path`` with the values of ``match``'s sensitive parameters masked; ``None`` if it has none.

    A value is masked where it is a whole segment (the usual ``<token>/``), or, when it is not
    (``path:`` converters, several parameters in one segment of a ``re_path``), wherever it occurs.
    """
    captured = getattr(match, "captured_kwargs", None)
    if captured is None:
        captured = getattr(match, "kwargs", None)
    if not captured:
        return None
    names = routes.of(getattr(match, "route", None), captured)
    if not names:
        return None
    values = {value if isinstance(value, str) else str(value) for value in map(captured.get, names)}
    masked = path
    for value in sorted(values - {""}, key=len, reverse=True):
        if "/" not in value:
            segments = masked.split("/")
            if value in segments:
                masked = "/".join(MASK if segment == value else segment for segment in segments)
                continue
        masked = masked.replace(value, MASK)
    return masked if masked != path else None


@on_reset
def reset() -> None:
    """Forget the per-route decisions."""
    global _routes
    _routes = None
