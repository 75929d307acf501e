"""The request path's direct histogram and gauge writes give exactly prometheus_client's results."""

from __future__ import annotations

import math
import random
import threading

from prometheus_client import CollectorRegistry, Gauge, Histogram, generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics

from instrumentation.metrics import fast

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


def _histogram() -> tuple[CollectorRegistry, Histogram]:
    registry = CollectorRegistry()
    metric = Histogram("latency_seconds", "Latency.", ["route"], buckets=BUCKETS, registry=registry)
    return registry, metric


def _samples(registry: CollectorRegistry) -> list[str]:
    """The exposition without the ``_created`` timestamps (two registries, two creation times)."""
    return [line for line in generate_latest(registry).decode().splitlines() if "_created" not in line]


def test_observations_match_prometheus_client_exactly() -> None:
    ours_registry, ours = _histogram()
    stock_registry, stock = _histogram()
    wrapped = fast.wrap(ours.labels("a/"))
    assert isinstance(wrapped, fast.FastHistogram)
    rng = random.Random(7)
    amounts = [*BUCKETS, 0.0, -1.0, 1e9, math.inf, math.nan] + [rng.uniform(0, 3) for _ in range(500)]
    for amount in amounts:
        wrapped.observe(amount)
        if not math.isnan(amount):  # NaN lands in no bucket and (here) not in the sum either
            stock.labels("a/").observe(amount)
    assert _samples(ours_registry) == _samples(stock_registry)


def test_the_exemplar_goes_to_the_bucket_of_the_observation() -> None:
    registry, metric = _histogram()
    wrapped = fast.wrap(metric.labels("a/"))
    wrapped.observe_with_trace(0.03, "4bf92f3577b34da6a3ce929d0e0e4736")
    text = generate_openmetrics(registry).decode()
    (line,) = [line for line in text.splitlines() if "# {" in line]
    bucket = 'latency_seconds_bucket{le="0.05",route="a/"} 1.0'
    assert line.startswith(f'{bucket} # {{trace_id="4bf92f3577b34da6a3ce929d0e0e4736"}} 0.03 ')


def test_concurrent_writers_lose_no_observation() -> None:
    registry, metric = _histogram()
    child = metric.labels("a/")

    def work() -> None:
        # Two wrappers of one child, as two threads building the cache at once would make.
        wrapped = fast.wrap(child)
        for _ in range(20_000):
            wrapped.observe(0.02)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert registry.get_sample_value("latency_seconds_count", {"route": "a/"}) == 80_000
    total = registry.get_sample_value("latency_seconds_sum", {"route": "a/"})
    assert total is not None
    assert math.isclose(total, 80_000 * 0.02)


def test_an_unknown_histogram_layout_falls_back_to_the_public_api() -> None:
    class Other:
        def __init__(self) -> None:
            self.seen: list[tuple[float, object]] = []

        def observe(self, amount: float, exemplar: object = None) -> None:
            self.seen.append((amount, exemplar))

    other = Other()
    wrapped = fast.wrap(other)
    assert not isinstance(wrapped, fast.FastHistogram)
    wrapped.observe(1.0)
    wrapped.observe_with_trace(2.0, "t" * 32)
    assert other.seen == [(1.0, None), (2.0, {"trace_id": "t" * 32})]


def test_gauge_moves_match_prometheus_client() -> None:
    registry = CollectorRegistry()
    gauge = Gauge("in_flight", "In flight.", registry=registry)
    wrapped = fast.wrap_gauge(gauge)
    assert isinstance(wrapped, fast.FastGauge)
    for _ in range(5):
        wrapped.inc()
    wrapped.dec()
    gauge.inc()  # the public API and the wrapper share the value and its lock
    assert registry.get_sample_value("in_flight") == 5.0
