"""``/metrics``, ``/healthz`` and ``/readyz``: access control, formats, and what they reveal."""

from __future__ import annotations

import pytest
from django.test import Client, override_settings

BASE = {"SERVICE_NAME": "tests", "LOGGING_CONFIGURE": False, "TRACING_ENABLED": False}


@pytest.mark.django_db
def test_metrics_from_loopback_in_text_format() -> None:
    response = Client().get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    assert b"fleetobs_build_info" in response.content


@pytest.mark.django_db
def test_metrics_in_openmetrics_when_asked() -> None:
    response = Client().get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert response["Content-Type"].startswith("application/openmetrics-text")
    assert response.content.rstrip().endswith(b"# EOF")


@pytest.mark.django_db
def test_metrics_refused_outside_allowed_networks() -> None:
    assert Client(REMOTE_ADDR="203.0.113.9").get("/metrics").status_code == 403
    assert Client(REMOTE_ADDR="10.1.2.3").get("/metrics").status_code == 200
    assert Client(REMOTE_ADDR="not-an-ip").get("/metrics").status_code == 403


@pytest.mark.django_db
@override_settings(FLEET_OBSERVABILITY={**BASE, "METRICS_BEARER_TOKEN": "s3cret-token"})
def test_metrics_bearer_token() -> None:
    client = Client()
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Basic s3cret-token"}).status_code == 401
    ok = client.get("/metrics", headers={"Authorization": "Bearer s3cret-token"})
    assert ok.status_code == 200
    assert b"s3cret-token" not in ok.content


@pytest.mark.django_db
@override_settings(FLEET_OBSERVABILITY={**BASE, "METRICS_ALLOWED_NETWORKS": ["0.0.0.0/0", "::/0"]})
def test_metrics_can_be_opened_explicitly() -> None:
    assert Client(REMOTE_ADDR="203.0.113.9").get("/metrics").status_code == 200


@pytest.mark.django_db
def test_metrics_reveal_no_settings_or_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOME_PASSWORD", "hunter2-env")
    body = Client().get("/metrics").content.decode()
    assert "hunter2-env" not in body
    assert "tests-only-not-secret" not in body  # SECRET_KEY


@pytest.mark.django_db
def test_health_and_readiness() -> None:
    client = Client()
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ok"}


@pytest.mark.django_db
def test_unapplied_migrations_gauge_is_computed_at_scrape() -> None:
    body = Client().get("/metrics").content.decode()
    assert 'fleetobs_django_migrations_unapplied{db_alias="default"} 0.0' in body


# --- behind a reverse proxy ----------------------------------------------------------------------
#: What nginx, an ingress controller, a cloud load balancer or a CDN adds to a forwarded request.
PROXY_HEADERS = [
    {"HTTP_X_FORWARDED_FOR": "203.0.113.9"},
    {"HTTP_X_FORWARDED_FOR": "10.0.0.7, 203.0.113.9"},
    {"HTTP_FORWARDED": "for=203.0.113.9;proto=https"},
    {"HTTP_X_REAL_IP": "203.0.113.9"},
    {"HTTP_VIA": "1.1 google"},
    {"HTTP_TRUE_CLIENT_IP": "203.0.113.9"},
    {"HTTP_CF_CONNECTING_IP": "203.0.113.9"},
]


@pytest.mark.django_db
@pytest.mark.parametrize("forwarded", PROXY_HEADERS, ids=lambda h: next(iter(h)))
def test_metrics_refused_through_a_proxy_without_a_token(forwarded: dict[str, str]) -> None:
    # The proxy connects from loopback or a private address, which the default networks allow.
    for proxy in ("127.0.0.1", "10.0.0.2", "::1"):
        response = Client(REMOTE_ADDR=proxy).get("/metrics", **forwarded)
        assert response.status_code == 403, (proxy, forwarded)
        assert b"http_server" not in response.content


@pytest.mark.django_db
def test_metrics_forwarding_headers_that_name_no_client_do_not_count() -> None:
    # A TLS-terminating sidecar in front of a direct scrape adds only these.
    headers = {"HTTP_X_FORWARDED_PROTO": "https", "HTTP_X_REQUEST_ID": "abc"}
    assert Client(REMOTE_ADDR="10.0.0.2").get("/metrics", **headers).status_code == 200


@pytest.mark.django_db
@override_settings(FLEET_OBSERVABILITY={**BASE, "METRICS_BEARER_TOKEN": "s3cret-token"})
def test_metrics_through_a_proxy_with_the_token() -> None:
    client = Client(REMOTE_ADDR="127.0.0.1")
    assert client.get("/metrics", HTTP_X_FORWARDED_FOR="203.0.113.9").status_code == 401
    ok = client.get("/metrics", HTTP_X_FORWARDED_FOR="203.0.113.9", HTTP_AUTHORIZATION="Bearer s3cret-token")
    assert ok.status_code == 200


def proxied_status(proxy: str, client: str = "203.0.113.9") -> int:
    """The status a scrape from ``client`` gets through a proxy connecting from ``proxy``."""
    return Client(REMOTE_ADDR=proxy).get("/metrics", HTTP_X_FORWARDED_FOR=client).status_code


@pytest.mark.django_db
@override_settings(FLEET_OBSERVABILITY={**BASE, "METRICS_TRUST_PROXY": True})
def test_metrics_through_a_trusted_proxy() -> None:
    assert proxied_status("127.0.0.1") == 200
    # Trusting the proxy does not widen the networks: the proxy itself must still be allowed.
    assert proxied_status("203.0.113.7", client="10.0.0.1") == 403


@pytest.mark.django_db
@override_settings(DEBUG=True)
def test_metrics_through_a_proxy_while_debugging() -> None:
    assert proxied_status("127.0.0.1") == 200
