"""A small built-in load generator with the shop's realistic traffic mix.

``fleetobs demo`` uses it instead of Locust by default: it is a few threads in the demo process,
costs almost no CPU, and needs nothing else installed. ``sample_app/locustfile.py`` declares the
same mix for Locust, for heavier or interactive load.

Each virtual user keeps its own cookies (session and CSRF token), picks an instance and an action
by weight, and the whole generator is paced to a target request rate::

    with LoadGenerator(["http://127.0.0.1:8001", "http://127.0.0.1:8002"], rate=10) as load:
        time.sleep(60)
    print(load.stats.summary())
"""

from __future__ import annotations

import http.cookiejar
import json
import random
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Self

from sample_app.shop.demo_user import DEMO_USERNAME, demo_password

#: (name, weight): how often each kind of request happens, relative to the others.
TRAFFIC_MIX: tuple[tuple[str, int], ...] = (
    ("home", 5),
    ("browse", 30),
    ("product", 25),
    ("n_plus_one", 8),
    ("cached", 12),
    ("slow", 4),
    ("flaky", 8),
    ("order", 6),
    ("login", 2),
)


@dataclass
class LoadStats:
    """Request counts by action and status class (``2xx``, ``5xx``, ``error``)."""

    counts: Counter[tuple[str, str]] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, action: str, status: int | None) -> None:
        outcome = "error" if status is None else f"{status // 100}xx"
        with self.lock:
            self.counts[(action, outcome)] += 1

    def total(self) -> int:
        with self.lock:
            return sum(self.counts.values())

    def by_outcome(self) -> Counter[str]:
        with self.lock:
            result: Counter[str] = Counter()
            for (_, outcome), n in self.counts.items():
                result[outcome] += n
            return result

    def summary(self) -> str:
        outcomes = self.by_outcome()
        parts = ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items()))
        return f"{sum(outcomes.values())} requests ({parts or 'none yet'})"


class VirtualUser:
    """One client with its own cookie jar, talking to one instance."""

    def __init__(self, base_url: str, *, password: str, timeout: float = 15.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.password = password
        self.timeout = timeout
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies))
        self.product_ids: list[int] = []

    def request(self, path: str, *, data: bytes | None = None, headers: dict[str, str] | None = None) -> int:
        request = urllib.request.Request(  # noqa: S310 - our own instances' URLs
            self.base_url + path,
            data=data,
            headers=headers or {},
            method="POST" if data is not None else "GET",
        )
        try:
            with self.opener.open(request, timeout=self.timeout) as response:
                body = response.read()
                if path.startswith("/shop/products/?") and not self.product_ids:
                    self._remember_products(body)
                return int(response.status)
        except urllib.error.HTTPError as exc:
            with exc:
                exc.read()
                return int(exc.code)

    def _remember_products(self, body: bytes) -> None:
        try:
            self.product_ids = [p["id"] for p in json.loads(body)["products"]]
        except (ValueError, KeyError, TypeError):
            self.product_ids = []

    def csrf_token(self) -> str | None:
        return next((c.value for c in self.cookies if c.name == "csrftoken"), None)

    # -- actions: each returns the status of its main request ----------------------------------
    def home(self) -> int:
        return self.request("/")

    def browse(self) -> int:
        return self.request(f"/shop/products/?page={random.randint(1, 5)}&size=20")

    def product(self) -> int:
        if not self.product_ids:
            self.browse()
        pk = random.choice(self.product_ids) if self.product_ids else random.randint(1, 100)
        return self.request(f"/shop/products/{pk}/")

    def n_plus_one(self) -> int:
        return self.request("/shop/products/n-plus-one/?size=20")

    def cached(self) -> int:
        return self.request("/shop/categories/summary/")

    def slow(self) -> int:
        return self.request(f"/shop/slow/?delay={random.choice((0.2, 0.4, 0.8, 1.5))}")

    def flaky(self) -> int:
        return self.request("/shop/flaky/")

    def order(self) -> int:
        if self.csrf_token() is None:
            self.home()
        if not self.product_ids:
            self.browse()
        ids = self.product_ids or [1]
        items = [
            {"product_id": pid, "quantity": random.randint(1, 3)}
            for pid in random.sample(ids, k=min(2, len(ids)))
        ]
        body = json.dumps({"email": "shopper@example.com", "items": items}).encode()
        headers = {"Content-Type": "application/json", "X-CSRFToken": self.csrf_token() or ""}
        return self.request("/shop/orders/", data=body, headers=headers)

    def login(self) -> int:
        self.request("/accounts/login/")
        form = urllib.parse.urlencode(
            {
                "username": DEMO_USERNAME,
                "password": self.password,
                "csrfmiddlewaretoken": self.csrf_token() or "",
            }
        ).encode()
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-CSRFToken": self.csrf_token() or "",
        }
        status = self.request("/accounts/login/", data=form, headers=headers)  # follows to the account page
        self.request("/shop/account/")
        return status


class LoadGenerator:
    """Threads of virtual users spread over ``targets``, paced to ``rate`` requests per second."""

    def __init__(
        self,
        targets: Sequence[str],
        *,
        rate: float = 10.0,
        users: int = 4,
        password: str | None = None,
        mix: Sequence[tuple[str, int]] = TRAFFIC_MIX,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> None:
        if not targets:
            raise ValueError("no targets to load")
        if rate <= 0 or users < 1:
            raise ValueError(f"rate and users must be positive, got rate={rate!r} users={users!r}")
        self.targets = list(targets)
        self.rate = rate
        self.users = users
        self.password = password or demo_password()
        self.actions = [name for name, _ in mix]
        self.weights = [weight for _, weight in mix]
        self.on_error = on_error
        self.stats = LoadStats()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._pace_lock = threading.Lock()
        self._next_slot = time.monotonic()

    def _wait_for_slot(self) -> bool:
        """Space requests 1/rate apart across all users; False once stopping."""
        with self._pace_lock:
            now = time.monotonic()
            slot = max(self._next_slot, now)
            self._next_slot = slot + 1.0 / self.rate
        return not self._stop.wait(max(0.0, slot - now))

    def _run(self, index: int) -> None:
        user = VirtualUser(self.targets[index % len(self.targets)], password=self.password)
        while self._wait_for_slot():
            action = random.choices(self.actions, weights=self.weights)[0]
            try:
                status: int | None = getattr(user, action)()
            except OSError as exc:  # connection refused/reset while an instance restarts
                status = None
                if self.on_error is not None:
                    self.on_error(exc)
            self.stats.record(action, status)
            # Users wander between instances, as they would behind a load balancer.
            if random.random() < 0.05:
                user.base_url = random.choice(self.targets).rstrip("/")

    def start(self) -> Self:
        for index in range(self.users):
            thread = threading.Thread(target=self._run, args=(index,), name=f"load-{index}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self, timeout: float = 20.0) -> None:
        self._stop.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._threads.clear()

    def summary(self) -> str:
        return self.stats.summary()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
