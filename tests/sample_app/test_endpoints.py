"""The sample shop on PostgreSQL and Redis under real gunicorn: every endpoint, CSRF, login,
Redis-backed caching shared by workers, orders processed by a real Celery worker, and the fault
switch driving error bursts, latency spikes and the flaky endpoint's failure rate."""

from __future__ import annotations

import time

import pytest
import requests

from sample_app.fleet import Fleet
from sample_app.shop.demo_user import DEMO_USERNAME, demo_password

pytestmark = [pytest.mark.integration]


@pytest.mark.parametrize(
    ("path", "status", "content_type"),
    [
        ("/", 200, "text/html"),
        ("/shop/products/", 200, "application/json"),
        ("/shop/products/?page=2&size=5", 200, "application/json"),
        ("/shop/products/1/", 200, "application/json"),
        ("/shop/products/999999/", 404, "text/html"),
        ("/shop/products/n-plus-one/", 200, "application/json"),
        ("/shop/categories/summary/", 200, "application/json"),
        ("/shop/slow/?delay=0.05", 200, "application/json"),
        ("/accounts/login/", 200, "text/html"),
        ("/healthz", 200, "application/json"),
        ("/readyz", 200, "application/json"),
        ("/metrics", 200, "text/plain"),
    ],
)
def test_endpoint_answers(shop_url: str, path: str, status: int, content_type: str) -> None:
    response = requests.get(shop_url + path, timeout=10)
    assert response.status_code == status, response.text[:300]
    assert response.headers["Content-Type"].startswith(content_type)


def test_product_list_and_detail_carry_related_data(shop_url: str) -> None:
    products = requests.get(f"{shop_url}/shop/products/?size=10", timeout=10).json()["products"]
    assert len(products) == 10
    assert all(p["category"] for p in products)
    detail = requests.get(f"{shop_url}/shop/products/{products[0]['id']}/", timeout=10).json()
    assert detail["id"] == products[0]["id"]
    assert detail["category"] == products[0]["category"]
    assert detail["rating"]["count"] >= len(detail["reviews"])


def test_n_plus_one_endpoint_returns_the_same_data_as_the_efficient_one(shop_url: str) -> None:
    good = requests.get(f"{shop_url}/shop/products/?size=15", timeout=10).json()["products"]
    bad = requests.get(f"{shop_url}/shop/products/n-plus-one/?size=15", timeout=10).json()["products"]
    assert bad == good


def test_cache_is_shared_by_every_worker_through_redis(
    shop_url: str, redis_url: str, service_name: str
) -> None:
    import redis

    key = f"{service_name}:1:shop:category-summary:v1"  # Django's KEY_PREFIX:VERSION:key
    client = redis.Redis.from_url(redis_url)
    try:
        client.delete(key)
        # Whichever worker answers, the entry written by the first one is found by the others.
        states = [
            requests.get(f"{shop_url}/shop/categories/summary/", timeout=10).headers["X-Cache"]
            for _ in range(8)
        ]
        assert states == ["MISS"] + ["HIT"] * 7
        assert client.exists(key)
        assert 0 < client.ttl(key) <= 30
    finally:
        client.close()


def test_slow_endpoint_takes_the_requested_time(shop_url: str) -> None:
    started = time.monotonic()
    response = requests.get(f"{shop_url}/shop/slow/?delay=0.4", timeout=10)
    assert response.json() == {"slept": 0.4}
    assert time.monotonic() - started >= 0.4


def _session_with_csrf(shop_url: str) -> requests.Session:
    session = requests.Session()
    session.get(shop_url + "/", timeout=10).raise_for_status()
    assert session.cookies.get("csrftoken")
    return session


def _wait_for_order(shop_url: str, order_id: int, timeout: float = 60.0) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while True:
        order = requests.get(f"{shop_url}/shop/orders/{order_id}/", timeout=10).json()
        if order["status"] != "pending" or time.monotonic() > deadline:
            return order
        time.sleep(0.2)


def test_order_is_processed_by_the_celery_worker(shop_url: str, pg_shop: Fleet) -> None:
    session = _session_with_csrf(shop_url)
    product = requests.get(f"{shop_url}/shop/products/2/", timeout=10).json()
    response = session.post(
        f"{shop_url}/shop/orders/",
        json={"email": "a@example.com", "items": [{"product_id": 2, "quantity": 3}]},
        headers={"X-CSRFToken": session.cookies["csrftoken"]},
        timeout=10,
    )
    assert response.status_code == 202, response.text
    created = response.json()
    assert created["status"] == "pending"  # queued, not run in the web worker
    order = _wait_for_order(shop_url, created["id"])
    assert order["status"] == "confirmed", (order, pg_shop.celery.log_tail() if pg_shop.celery else "")
    assert order["processed_at"]
    after = requests.get(f"{shop_url}/shop/products/2/", timeout=10).json()
    assert after["stock"] == product["stock"] - 3


def test_order_over_stock_is_rejected_by_the_worker(shop_url: str) -> None:
    session = _session_with_csrf(shop_url)
    stock = requests.get(f"{shop_url}/shop/products/3/", timeout=10).json()["stock"]
    lines = stock // 100 + 1  # the seed keeps stock under 1,500; an order has up to 20 lines of 100
    assert lines <= 20
    response = session.post(
        f"{shop_url}/shop/orders/",
        json={"items": [{"product_id": 3, "quantity": 100}] * lines},
        headers={"X-CSRFToken": session.cookies["csrftoken"]},
        timeout=10,
    )
    assert response.status_code == 202
    order = _wait_for_order(shop_url, response.json()["id"])
    assert order["status"] == "rejected"
    assert "out of stock" in str(order["note"])


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"items": []},
        {"items": [{"product_id": "1"}]},
        {"items": [{"product_id": 10**9, "quantity": 1}]},
        {"items": [{"product_id": 10**30, "quantity": 1}]},
        {"items": [{"product_id": 1, "quantity": 0}]},
        {"items": [{"product_id": 1}], "email": "not-an-address"},
        {"items": [{"product_id": 1}], "email": 42},
    ],
)
def test_invalid_orders_are_refused(shop_url: str, body: dict[str, object]) -> None:
    session = _session_with_csrf(shop_url)
    response = session.post(
        f"{shop_url}/shop/orders/",
        json=body,
        headers={"X-CSRFToken": session.cookies["csrftoken"]},
        timeout=10,
    )
    assert response.status_code == 400
    assert "error" in response.json()


def test_posting_without_csrf_token_is_forbidden(shop_url: str) -> None:
    response = requests.post(f"{shop_url}/shop/orders/", json={"items": [{"product_id": 1}]}, timeout=10)
    assert response.status_code == 403


def test_login_flow(shop_url: str) -> None:
    session = requests.Session()
    session.get(f"{shop_url}/accounts/login/", timeout=10).raise_for_status()
    assert requests.get(f"{shop_url}/shop/account/", allow_redirects=False, timeout=10).status_code == 302
    bad = session.post(
        f"{shop_url}/accounts/login/",
        data={
            "username": DEMO_USERNAME,
            "password": "wrong",
            "csrfmiddlewaretoken": session.cookies["csrftoken"],
        },
        timeout=10,
    )
    assert bad.status_code == 200  # the form again, with an error
    assert session.cookies.get("sessionid") is None
    good = session.post(
        f"{shop_url}/accounts/login/",
        data={
            "username": DEMO_USERNAME,
            "password": demo_password(),
            "csrfmiddlewaretoken": session.cookies["csrftoken"],
        },
        timeout=10,
    )
    assert good.status_code == 200
    assert good.url.endswith("/shop/account/")
    assert good.json()["username"] == DEMO_USERNAME


def _failures(url: str, count: int) -> int:
    with requests.Session() as session:
        return sum(session.get(url, timeout=10).status_code == 500 for _ in range(count))


def test_flaky_endpoint_failure_rate_follows_the_switch(shop_url: str, clean_faults: Fleet) -> None:
    url = f"{shop_url}/shop/flaky/"
    clean_faults.set_faults(failure_rate=0.0)
    assert _failures(url, 40) == 0
    clean_faults.set_faults(failure_rate=1.0)
    assert _failures(url, 40) == 40
    clean_faults.set_faults(failure_rate=0.3)
    # Binomial(300, 0.3): mean 90, sd ~7.9; the bounds are more than 5 sd away.
    assert 50 <= _failures(url, 300) <= 130


def test_error_burst_hits_shop_routes_but_not_health(shop_url: str, clean_faults: Fleet) -> None:
    clean_faults.set_faults(error_rate=1.0)
    assert _failures(f"{shop_url}/shop/products/", 20) == 20
    assert requests.get(f"{shop_url}/healthz", timeout=10).status_code == 200
    assert requests.get(f"{shop_url}/", timeout=10).status_code == 200
    clean_faults.clear_faults()
    assert _failures(f"{shop_url}/shop/products/", 20) == 0


def test_latency_spike_delays_shop_routes(shop_url: str, clean_faults: Fleet) -> None:
    clean_faults.set_faults(latency_seconds=0.3, latency_rate=1.0)
    started = time.monotonic()
    assert requests.get(f"{shop_url}/shop/products/?size=1", timeout=10).status_code == 200
    assert time.monotonic() - started >= 0.3


def test_fault_endpoint_requires_the_token(shop_url: str, clean_faults: Fleet) -> None:
    url = f"{shop_url}/faults/"
    assert requests.get(url, timeout=10).status_code == 401
    assert requests.get(url, headers={"Authorization": "Bearer nope"}, timeout=10).status_code == 401
    auth = {"Authorization": f"Bearer {clean_faults.faults_token}"}
    response = requests.post(url, json={"error_rate": 0.25}, headers=auth, timeout=10)
    assert response.status_code == 200
    assert response.json()["error_rate"] == 0.25
    assert requests.post(url, json={"error_rate": 2}, headers=auth, timeout=10).status_code == 400
    assert requests.post(url, json={"bogus": 1}, headers=auth, timeout=10).status_code == 400
    assert requests.get(url, headers=auth, timeout=10).json()["error_rate"] == 0.25
    assert requests.delete(url, headers=auth, timeout=10).json()["error_rate"] == 0.0
