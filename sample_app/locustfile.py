"""Locust traffic for the sample shop: the same mix as ``sample_app.traffic``, for heavier load.

    locust -f sample_app/locustfile.py --host http://127.0.0.1:8001
    SHOP_TARGETS=http://127.0.0.1:8001,http://127.0.0.1:8002 \\
        locust -f sample_app/locustfile.py --headless -u 20

With ``SHOP_TARGETS`` each simulated user sticks to one instance, spreading users over the fleet.
Fault-injection switches can be flipped when the test starts (they need ``SHOP_FAULTS_TOKEN``)::

    locust -f sample_app/locustfile.py --error-rate 0.3 --latency 1.5 --latency-rate 0.2
"""

from __future__ import annotations

import json
import os
import random
import urllib.request
from typing import Any

from locust import HttpUser, between, events, task

from sample_app.shop.demo_user import DEMO_USERNAME, demo_password
from sample_app.traffic import TRAFFIC_MIX

WEIGHTS = dict(TRAFFIC_MIX)
DEMO_PASSWORD = demo_password()


@events.init_command_line_parser.add_listener
def _add_fault_options(parser: Any) -> None:
    parser.add_argument("--error-rate", type=float, default=None, help="share of /shop/ requests that fail")
    parser.add_argument("--latency", type=float, default=None, help="seconds added to /shop/ requests")
    parser.add_argument("--latency-rate", type=float, default=None, help="share of /shop/ requests delayed")
    parser.add_argument("--failure-rate", type=float, default=None, help="failure rate of /shop/flaky/")


@events.test_start.add_listener
def _set_faults(environment: Any, **kwargs: Any) -> None:
    options = environment.parsed_options
    if options is None:
        return
    wanted = {
        "error_rate": options.error_rate,
        "latency_seconds": options.latency,
        "latency_rate": options.latency_rate,
        "failure_rate": options.failure_rate,
    }
    changes = {k: v for k, v in wanted.items() if v is not None}
    token = os.environ.get("SHOP_FAULTS_TOKEN")
    if not changes:
        return
    if not token:
        raise SystemExit("fault options need SHOP_FAULTS_TOKEN (the token of the /faults/ endpoint)")
    request = urllib.request.Request(  # noqa: S310 - the host under test
        environment.host.rstrip("/") + "/faults/",
        data=json.dumps(changes).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        print(f"fault switch: {response.read().decode()}")


class Shopper(HttpUser):
    """Someone browsing the shop, sometimes ordering, now and then logging in."""

    wait_time = between(0.5, 2.0)

    def on_start(self) -> None:
        targets = [t for t in os.environ.get("SHOP_TARGETS", "").split(",") if t]
        if targets:
            self.client.base_url = random.choice(targets).rstrip("/")
        self.client.get("/", name="/")
        response = self.client.get("/shop/products/?size=100", name="shop/products/")
        try:
            self.product_ids = [p["id"] for p in response.json()["products"]]
        except (ValueError, KeyError, TypeError):
            self.product_ids = list(range(1, 51))

    def _csrf_headers(self) -> dict[str, str]:
        return {"X-CSRFToken": self.client.cookies.get("csrftoken") or ""}

    @task(WEIGHTS["home"])
    def home(self) -> None:
        self.client.get("/", name="/")

    @task(WEIGHTS["browse"])
    def browse(self) -> None:
        self.client.get(f"/shop/products/?page={random.randint(1, 5)}", name="shop/products/")

    @task(WEIGHTS["product"])
    def product(self) -> None:
        pk = random.choice(self.product_ids)
        self.client.get(f"/shop/products/{pk}/", name="shop/products/<int:pk>/")

    @task(WEIGHTS["n_plus_one"])
    def n_plus_one(self) -> None:
        self.client.get("/shop/products/n-plus-one/", name="shop/products/n-plus-one/")

    @task(WEIGHTS["cached"])
    def cached(self) -> None:
        self.client.get("/shop/categories/summary/", name="shop/categories/summary/")

    @task(WEIGHTS["slow"])
    def slow(self) -> None:
        self.client.get(f"/shop/slow/?delay={random.choice((0.2, 0.4, 0.8, 1.5))}", name="shop/slow/")

    @task(WEIGHTS["flaky"])
    def flaky(self) -> None:
        self.client.get("/shop/flaky/", name="shop/flaky/")

    @task(WEIGHTS["order"])
    def order(self) -> None:
        items = [
            {"product_id": pid, "quantity": random.randint(1, 3)}
            for pid in random.sample(self.product_ids, 2)
        ]
        self.client.post(
            "/shop/orders/",
            json={"email": "shopper@example.com", "items": items},
            headers=self._csrf_headers(),
            name="shop/orders/",
        )

    @task(WEIGHTS["login"])
    def login(self) -> None:
        self.client.get("/accounts/login/", name="accounts/login/")
        self.client.post(
            "/accounts/login/",
            data={
                "username": DEMO_USERNAME,
                "password": DEMO_PASSWORD,
                "csrfmiddlewaretoken": self.client.cookies.get("csrftoken", ""),
            },
            headers=self._csrf_headers(),
            name="accounts/login/",
        )
        self.client.get("/shop/account/", name="shop/account/")
