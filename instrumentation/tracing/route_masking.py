"""Masking a credential in the request's path on its server span.

The server span is started before Django resolves the URL, with ``url.path`` as received (and,
when OpenTelemetry's own Django instrumentation started it, ``http.target``/``http.url`` or
``url.full``). :func:`mask_path` rewrites those attributes once the middleware knows which
segments are credentials. The span's name is built from the route (the pattern), never the path.
"""

from __future__ import annotations

from typing import Any

__all__ = ["mask_path"]

#: Attributes that may hold the request's path: ours, and those of OpenTelemetry's instrumentation
#: (current and older semantic conventions).
URL_ATTRIBUTES = ("url.path", "url.full", "http.target", "http.url")


def mask_path(handle: Any, raw: str, masked: str) -> None:
    """Replace ``raw`` by ``masked`` in the URL attributes of the request's span (``handle``)."""
    span = getattr(handle, "span", None)
    if span is None or not span.is_recording():
        return
    attributes = getattr(span, "attributes", None) or {}
    updates: dict[str, str] = {}
    for key in URL_ATTRIBUTES:
        value = attributes.get(key)
        if not isinstance(value, str):
            continue
        if raw in value:
            updates[key] = value.replace(raw, masked)
        elif key == "url.path" and raw.startswith(value):  # cut at MAX_VALUE_LENGTH
            updates[key] = masked[: len(value)]
    if updates:
        span.set_attributes(updates)
