"""Whose ``sampled`` flag to follow: ``TRACE_PARENT_TRUST`` and the trusted callers.

With the default ``all``, an incoming ``traceparent`` is followed as W3C Trace Context says:
its ``sampled`` flag decides (with the default parent-based sampler), so any client can ask for
its requests to be traced, and so multiply tracing cost. With ``trusted``, a request from a
caller that is not trusted keeps the caller's trace id and parent (logs and traces still join
up) but its flag is replaced by this service's own decision, a fresh random draw at the
sampler's ratio: neither the flag nor a chosen trace id can force sampling.

A caller is trusted when its socket peer (``REMOTE_ADDR``, not a forwarded header) is in
``TRACE_TRUSTED_NETWORKS`` or it sends one of ``TRACE_TRUSTED_HEADERS`` (``Name=value``; a
value only your gateway or mesh adds, compared in constant time).
"""

from __future__ import annotations

import hmac
import ipaddress
import random
from collections.abc import Callable, Mapping
from typing import Any

from opentelemetry.trace import SpanContext, TraceFlags

from instrumentation.conf import Settings

_SAMPLED = TraceFlags(1)
_NOT_SAMPLED = TraceFlags(0)
_getrandbits = random.getrandbits

#: ``untrusted(meta) -> True`` when the caller's sampled flag must not be followed.
Untrusted = Callable[[Mapping[str, Any]], bool]


def untrusted_check(settings: Settings) -> Untrusted | None:
    """The check for ``TRACE_PARENT_TRUST='trusted'``; ``None`` when every caller is trusted."""
    if settings.trace_parent_trust != "trusted":
        return None
    networks = []
    for text in settings.trace_trusted_networks:
        try:
            networks.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            continue  # reported by the E003 check
    headers: list[tuple[str, bytes]] = []
    for item in settings.trace_trusted_headers:
        name, _, value = item.partition("=")
        if name.strip() and value.strip():
            headers.append(("HTTP_" + name.strip().upper().replace("-", "_"), value.strip().encode()))

    def untrusted(meta: Mapping[str, Any]) -> bool:
        for key, expected in headers:
            sent = meta.get(key)
            if isinstance(sent, str) and hmac.compare_digest(sent.encode("latin-1", "replace"), expected):
                return False
        if networks:
            try:
                address = ipaddress.ip_address(meta.get("REMOTE_ADDR") or "")
            except ValueError:
                return True
            return not any(address in network for network in networks)
        return True

    return untrusted


def resampled(parent: SpanContext, bound: int) -> SpanContext:
    """``parent`` with its sampled flag replaced by a fresh draw (kept with probability ratio)."""
    flags = _SAMPLED if _getrandbits(64) < bound else _NOT_SAMPLED
    return SpanContext(parent.trace_id, parent.span_id, True, flags, parent.trace_state)
