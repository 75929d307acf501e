"""RED metrics per route, through Django's test client, read back from the registry."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from django.test import AsyncClient, Client

from instrumentation.catalog import UNMATCHED_ROUTE
from instrumentation.testing import get_sample_value

COUNT = "http_server_request_duration_seconds_count"


def count(route: str, status: str, method: str = "GET") -> float | None:
    return get_sample_value(
        COUNT, {"http_request_method": method, "http_route": route, "http_response_status_code": status}
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "route", "status"),
    [
        ("/ok/", "ok/", "200"),
        ("/items/7/", "items/<int:pk>/", "200"),
        ("/legacy/abc/", "^legacy/(?P<slug>[a-z]+)/$", "200"),
        ("/missing/", "missing/", "404"),
        ("/forbidden/", "forbidden/", "403"),
        ("/no/such/page/", UNMATCHED_ROUTE, "404"),
    ],
)
def test_route_label_is_the_url_pattern(path: str, route: str, status: str) -> None:
    Client().get(path)
    assert count(route, status) == 1.0


@pytest.mark.django_db
def test_unmatched_paths_share_one_series() -> None:
    client = Client()
    for i in range(50):
        client.get(f"/random/{i}/path")
    assert count(UNMATCHED_ROUTE, "404") == 50.0


@pytest.mark.django_db
def test_unknown_methods_become_other() -> None:
    client = Client()
    client.generic("FROBNICATE", "/ok/")
    client.generic("get", "/ok/")  # Django upper-cases the method
    assert count("ok/", "200", "_OTHER") == 1.0
    assert count("ok/", "200", "GET") == 1.0


@pytest.mark.django_db
def test_server_errors_count_exceptions_but_client_errors_do_not() -> None:
    client = Client(raise_request_exception=False)
    client.get("/boom/")
    client.get("/missing/")
    client.get("/forbidden/")
    assert count("boom/", "500") == 1.0
    assert (
        get_sample_value(
            "fleetobs_http_server_exceptions_total", {"http_route": "boom/", "error_type": "ValueError"}
        )
        == 1.0
    )
    assert (
        get_sample_value(
            "fleetobs_http_server_exceptions_total", {"http_route": "missing/", "error_type": "Http404"}
        )
        is None
    )


@pytest.mark.django_db
def test_active_requests_return_to_zero_and_sizes_are_observed() -> None:
    Client().post("/ok/", data="x" * 1500, content_type="text/plain")
    assert get_sample_value("http_server_active_requests") == 0.0
    assert (
        get_sample_value(
            "http_server_request_body_size_bytes_sum", {"http_request_method": "POST", "http_route": "ok/"}
        )
        == 1500.0
    )
    assert (
        get_sample_value(
            "http_server_response_body_size_bytes_sum", {"http_request_method": "POST", "http_route": "ok/"}
        )
        == 2.0
    )


@pytest.mark.django_db
def test_metrics_and_health_routes_are_excluded() -> None:
    client = Client()
    client.get("/healthz")
    client.get("/metrics")
    assert count("healthz", "200") is None
    assert count("metrics", "200") is None


def test_async_views_are_measured_through_the_asgi_handler() -> None:
    async def scenario() -> tuple[int, int]:
        client = AsyncClient(raise_request_exception=False)
        return (await client.get("/async/ok/")).status_code, (await client.get("/async/boom/")).status_code

    assert async_to_sync(scenario)() == (200, 500)
    assert count("async/ok/", "200") == 1.0
    assert count("async/boom/", "500") == 1.0
    assert (
        get_sample_value(
            "fleetobs_http_server_exceptions_total",
            {"http_route": "async/boom/", "error_type": "RuntimeError"},
        )
        == 1.0
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("incoming", "echoed"),
    [("abc-123_def.4:5", True), ("bad id with spaces", False), ("x" * 200, False), ("a\nb", False)],
)
def test_request_id_is_echoed_only_when_valid(incoming: str, echoed: bool) -> None:
    response = Client().get("/ok/", headers={"X-Request-ID": incoming})
    returned = response["X-Request-ID"]
    assert (returned == incoming) is echoed
    assert 1 <= len(returned) <= 128


@pytest.mark.django_db
def test_generated_request_ids_are_unique() -> None:
    client = Client()
    ids = {client.get("/ok/")["X-Request-ID"] for _ in range(20)}
    assert len(ids) == 20
