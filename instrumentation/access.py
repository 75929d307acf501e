"""Who may read ``/metrics``: allowed client networks, and a bearer token when one is set."""

from __future__ import annotations

import hmac
import ipaddress
from functools import lru_cache

from django.http import HttpRequest

from instrumentation.conf import Settings

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def _networks(networks: tuple[str, ...]) -> tuple[Network, ...]:
    parsed: list[Network] = []
    for network in networks:
        try:
            parsed.append(ipaddress.ip_network(network, strict=False))
        except ValueError:
            continue  # reported by system check fleetobs.E003
    return tuple(parsed)


def client_allowed(address: str | None, networks: tuple[str, ...]) -> bool:
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in network for network in _networks(networks) if network.version == ip.version)


def check(request: HttpRequest, settings: Settings) -> int | None:
    """``None`` when access is granted, else the status code to answer (401 or 403)."""
    if not client_allowed(request.META.get("REMOTE_ADDR"), settings.metrics_allowed_networks):
        return 403
    token = settings.metrics_bearer_token
    if token:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        scheme, _, supplied = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(supplied.strip().encode(), token.encode()):
            return 401
    return None


def is_open_to_world(settings: Settings) -> bool:
    """True when anyone on the internet can read the metrics (no token, a world-wide network)."""
    if settings.metrics_bearer_token:
        return False
    return any(
        network.prefixlen == 0 or network.is_global
        for network in _networks(settings.metrics_allowed_networks)
    )
