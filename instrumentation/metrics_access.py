"""Who may read ``/metrics``: allowed client networks, proxies, and a bearer token when one is set.

The rule, in order (:func:`check`):

1. the connecting address (``REMOTE_ADDR``) must be in ``METRICS_ALLOWED_NETWORKS``, else 403;
2. when ``METRICS_BEARER_TOKEN`` is set, the request must carry it, else 401; nothing else counts;
3. without a token, a request that came through a reverse proxy is refused (403) unless
   ``METRICS_TRUST_PROXY`` is on or ``DEBUG`` is.

Behind nginx, an ingress controller or a load balancer, ``REMOTE_ADDR`` is the proxy's own
loopback or private address, which the default networks allow: rule 1 alone would serve the
metrics to anyone the proxy serves. Proxies say they forwarded a request by naming its client
(:data:`FORWARDING_HEADERS`); a scraper connecting to the instance directly (Prometheus in
Kubernetes scraping pod addresses) sends none of them. A client cannot take such a header away
from a proxy, only add one, which can only lose it access. The headers are never trusted to
*choose* the client address.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from django.http import HttpRequest

from instrumentation.conf import Settings

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

#: ``request.META`` keys of the headers a reverse proxy, load balancer or CDN adds to name the
#: client it forwards for (RFC 7239 ``Forwarded``, the de-facto ``X-*`` ones, ``Via``, CDNs').
#: ``X-Forwarded-Proto``/``-Host`` are not among them: a TLS-terminating sidecar in front of a
#: direct scrape adds those alone.
FORWARDING_HEADERS = (
    "HTTP_X_FORWARDED_FOR",
    "HTTP_FORWARDED",
    "HTTP_X_REAL_IP",
    "HTTP_VIA",
    "HTTP_TRUE_CLIENT_IP",
    "HTTP_CF_CONNECTING_IP",
    "HTTP_FASTLY_CLIENT_IP",
    "HTTP_X_CLIENT_IP",
    "HTTP_X_CLUSTER_CLIENT_IP",
    "HTTP_X_ORIGINAL_FORWARDED_FOR",
)


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


def forwarded(meta: Mapping[str, Any]) -> bool:
    """True when the request names a client it was forwarded for: it came through a proxy."""
    return any(meta.get(key) for key in FORWARDING_HEADERS)


def check(request: HttpRequest, settings: Settings, debug: bool = False) -> int | None:
    """``None`` when access is granted, else the status code to answer (401 or 403).

    ``debug``: Django's ``DEBUG``; on, a proxied request is trusted by network as any other.
    """
    meta = request.META
    if not client_allowed(meta.get("REMOTE_ADDR"), settings.metrics_allowed_networks):
        return 403
    token = settings.metrics_bearer_token
    if token:
        header = meta.get("HTTP_AUTHORIZATION", "")
        scheme, _, supplied = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(supplied.strip().encode(), token.encode()):
            return 401
        return None
    if not (debug or settings.metrics_trust_proxy) and forwarded(meta):
        return 403
    return None


def is_open_to_world(settings: Settings) -> bool:
    """True when anyone on the internet can read the metrics (no token, a world-wide network)."""
    if settings.metrics_bearer_token:
        return False
    return any(
        network.prefixlen == 0 or network.is_global
        for network in _networks(settings.metrics_allowed_networks)
    )


def exposures(settings: Settings) -> list[str]:
    """Why this configuration would serve the metrics to the internet (empty when it would not)."""
    if not settings.metrics_enabled or settings.metrics_bearer_token:
        return []
    reasons = []
    if is_open_to_world(settings):
        reasons.append(
            "METRICS_ALLOWED_NETWORKS includes public addresses and no METRICS_BEARER_TOKEN is set"
        )
    if settings.metrics_trust_proxy:
        reasons.append(
            "METRICS_TRUST_PROXY is on and no METRICS_BEARER_TOKEN is set, so anyone a reverse proxy "
            "forwards to this service can read /metrics"
        )
    return reasons
