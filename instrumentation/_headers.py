"""Setting our response headers (request id, trace id) without Django's per-call conversions.

``response[name] = value`` re-checks that the name is ASCII and the value Latin-1 without line
breaks on every call. Our values are hex ids, or request ids matched against a strict pattern
(the callers guarantee printable ASCII), and each configured name is checked once here; a
valid pair is stored the way ``ResponseHeaders.__setitem__`` stores it. Anything unusual (a
header name that is not an HTTP token, a response type with other header storage) takes
Django's own path.
"""

from __future__ import annotations

import re
from typing import Any

from django.http.response import ResponseHeaders

from instrumentation.lifecycle import on_reset

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_names: dict[str, str | None] = {}


def _store_key(name: str) -> str | None:
    key = _names.get(name, "")
    if key == "":
        key = name.lower() if _TOKEN.fullmatch(name) else None
        if len(_names) < 64:
            _names[name] = key
    return key


@on_reset
def reset() -> None:
    """Forget the cached header names."""
    _names.clear()


def set_header(response: Any, name: str, value: str) -> None:
    """``response[name] = value``; ``value`` must be printable ASCII (callers pass ids they made
    or matched against a strict pattern)."""
    headers = getattr(response, "headers", None)
    key = _store_key(name)
    if key is not None and type(headers) is ResponseHeaders:
        headers._store[key] = (name, value)
    else:
        response[name] = value
