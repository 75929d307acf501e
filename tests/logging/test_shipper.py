"""The Elasticsearch shipper against the protocol-level fake, with the real ``elasticsearch`` client."""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest
import structlog

from instrumentation.logging.shipper import Shipper
from instrumentation.logging.testing import CapturedLogs
from instrumentation.testing import get_sample_value
from tests.logging.es_server import FakeElasticsearch
from tests.support.procs import free_port


def line(n: int, extra: str = "") -> bytes:
    return (
        orjson.dumps({"@timestamp": "2026-01-01T00:00:00.000Z", "message": f"line {n}{extra}", "n": n})
        + b"\n"
    )


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.02)


@pytest.fixture
def make_shipper() -> Iterator[Callable[..., Shipper]]:
    made: list[Shipper] = []

    def make(url: str, **kwargs: Any) -> Shipper:
        options: dict[str, Any] = {
            "flush_interval": 0.05,
            "initial_backoff": 0.05,
            "max_backoff": 0.2,
            "request_timeout": 2.0,
        }
        options.update(kwargs)
        shipper = Shipper(url, **options)
        made.append(shipper)
        return shipper

    yield make
    for shipper in made:
        shipper.close(0.5)


def delivered_numbers(server: FakeElasticsearch) -> list[int]:
    return sorted(doc["n"] for doc in server.all_docs())


def test_delivers_everything_when_healthy(
    es_server: FakeElasticsearch, make_shipper: Callable[..., Shipper]
) -> None:
    shipper = make_shipper(es_server.url, batch_size=50)
    for n in range(1000):
        assert shipper.put(line(n))
    assert shipper.flush(10)
    assert delivered_numbers(es_server) == list(range(1000))
    assert set(es_server.docs) == {"logs-fleetobs-default"}
    assert shipper.exported == 1000
    assert shipper.dropped == {}
    assert es_server.bulk_requests >= 20  # batched by size


def test_batches_by_time(es_server: FakeElasticsearch, make_shipper: Callable[..., Shipper]) -> None:
    shipper = make_shipper(es_server.url, batch_size=500, flush_interval=0.2)
    shipper.put(line(1))
    wait_for(lambda: len(es_server.all_docs()) == 1, 5)


@pytest.mark.parametrize("mode", ["429", "500", "503"])
def test_retries_whole_request_failures_without_loss(
    es_server: FakeElasticsearch, make_shipper: Callable[..., Shipper], mode: str
) -> None:
    es_server.mode = mode
    shipper = make_shipper(es_server.url, batch_size=20)
    for n in range(100):
        shipper.put(line(n))
    wait_for(lambda: es_server.bulk_requests >= 3)
    assert es_server.all_docs() == []
    es_server.mode = "ok"
    assert shipper.flush(10)
    assert delivered_numbers(es_server) == list(range(100))
    assert shipper.failures >= 3
    assert shipper.dropped == {}


def test_retries_only_the_rejected_documents_of_a_partial_failure(
    es_server: FakeElasticsearch, make_shipper: Callable[..., Shipper]
) -> None:
    es_server.mode = "item_429"
    es_server.item_failures = 5
    shipper = make_shipper(es_server.url, batch_size=10)
    for n in range(10):
        shipper.put(line(n))
    wait_for(lambda: es_server.bulk_requests >= 2 and shipper.pending == 0)
    # The first five documents were refused with 429 and retried alone: each lands exactly once.
    assert delivered_numbers(es_server) == list(range(10))
    assert es_server.bulk_requests == 2
    assert shipper.dropped == {}


def test_documents_refused_for_good_are_dropped_and_counted(
    es_server: FakeElasticsearch, make_shipper: Callable[..., Shipper]
) -> None:
    es_server.mode = "reject"
    shipper = make_shipper(es_server.url, batch_size=10)
    for n in range(10):
        shipper.put(line(n, " REJECT-ME" if n % 2 else ""))
    assert shipper.flush(10)
    assert delivered_numbers(es_server) == [0, 2, 4, 6, 8]
    assert shipper.dropped == {"rejected": 5}
    assert get_sample_value("fleetobs_telemetry_dropped_total", {"signal": "logs", "reason": "rejected"}) == 5
    assert get_sample_value("fleetobs_telemetry_exported_total", {"signal": "logs"}) == 5


def test_survives_an_outage_without_loss(
    es_server: FakeElasticsearch, make_shipper: Callable[..., Shipper]
) -> None:
    shipper = make_shipper(es_server.url, batch_size=25)
    for n in range(50):
        shipper.put(line(n))
    assert shipper.flush(10)
    es_server.down()
    for n in range(50, 300):
        shipper.put(line(n))
    time.sleep(1.0)
    assert shipper.failures >= 2
    es_server.up()
    assert shipper.flush(15)
    assert delivered_numbers(es_server) == list(range(300))
    assert shipper.dropped == {}
    failures = get_sample_value("fleetobs_telemetry_export_failures_total", {"signal": "logs"})
    assert failures is not None
    assert failures >= 2


def test_slow_server_times_out_and_retries(
    es_server: FakeElasticsearch, make_shipper: Callable[..., Shipper]
) -> None:
    es_server.delay = 0.6
    shipper = make_shipper(es_server.url, request_timeout=0.3, batch_size=10)
    for n in range(10):
        shipper.put(line(n))
    time.sleep(1.0)
    assert shipper.failures >= 1
    es_server.delay = 0.0
    assert shipper.flush(15)
    # The timed-out requests were stored by the server anyway; their retries carry the same
    # document ids, are answered 409 and count as delivered: nothing is stored twice.
    assert delivered_numbers(es_server) == list(range(10))
    assert shipper.exported == 10


def test_beyond_the_bound_drops_and_counts(make_shipper: Callable[..., Shipper]) -> None:
    down = f"http://127.0.0.1:{free_port()}"
    shipper = make_shipper(down, queue_size=100, batch_size=10)
    accepted = sum(shipper.put(line(n)) for n in range(250))
    assert accepted == 100
    assert shipper.dropped == {"queue_full": 150}
    assert (
        get_sample_value("fleetobs_telemetry_dropped_total", {"signal": "logs", "reason": "queue_full"})
        == 150
    )


def test_byte_bound(make_shipper: Callable[..., Shipper]) -> None:
    down = f"http://127.0.0.1:{free_port()}"
    shipper = make_shipper(down, queue_size=10_000, queue_bytes=10_000, batch_size=10)
    big = line(0, "x" * 900)
    accepted = sum(shipper.put(big) for _ in range(30))
    assert accepted == 10_000 // len(big)
    assert shipper.dropped["queue_full"] == 30 - accepted


def test_outage_up_to_the_bound_loses_nothing_then_recovers(
    es_server: FakeElasticsearch, make_shipper: Callable[..., Shipper]
) -> None:
    shipper = make_shipper(es_server.url, queue_size=200, batch_size=20)
    es_server.down()
    accepted = [n for n in range(300) if shipper.put(line(n))]
    assert len(accepted) == 200
    es_server.up()
    assert shipper.flush(15)
    assert delivered_numbers(es_server) == accepted
    assert shipper.dropped == {"queue_full": 100}


def test_close_flushes_and_later_lines_are_dropped(
    es_server: FakeElasticsearch, make_shipper: Callable[..., Shipper]
) -> None:
    shipper = make_shipper(es_server.url, batch_size=500, flush_interval=30)
    for n in range(40):
        shipper.put(line(n))
    shipper.close(5)
    assert delivered_numbers(es_server) == list(range(40))
    assert not shipper.put(line(99))
    assert shipper.dropped == {"shutdown": 1}


def test_close_gives_up_on_a_dead_server_within_the_timeout(make_shipper: Callable[..., Shipper]) -> None:
    shipper = make_shipper(f"http://127.0.0.1:{free_port()}", batch_size=10)
    for n in range(30):
        shipper.put(line(n))
    started = time.monotonic()
    shipper.close(0.5)
    assert time.monotonic() - started < 3
    # Every line is counted as dropped: a batch the export thread already tried (refused) under
    # its export failure, the rest at shutdown.
    assert set(shipper.dropped) <= {"shutdown", "export_failed"}
    assert sum(shipper.dropped.values()) == 30


def test_api_key_is_sent(make_shipper: Callable[..., Shipper]) -> None:
    server = FakeElasticsearch(api_key="s3cret-key")
    server.start()
    try:
        shipper = make_shipper(server.url, api_key="s3cret-key")
        shipper.put(line(1))
        assert shipper.flush(10)
        assert delivered_numbers(server) == [1]
    finally:
        server.stop()


def test_refused_credentials_are_an_outage_not_a_refusal_of_the_lines(
    make_shipper: Callable[..., Shipper],
) -> None:
    """A wrong or expired API key answers 401 for every document: the lines wait (bounded) and
    the failures count, so FleetobsLogShippingFailing fires; a renewed key delivers them all."""
    server = FakeElasticsearch(api_key="renewed-key")
    server.start()
    try:
        shipper = make_shipper(server.url, api_key="expired-key", batch_size=10)
        for n in range(30):
            shipper.put(line(n))
        wait_for(lambda: shipper.failures >= 2)
        assert server.all_docs() == []
        assert shipper.dropped == {}
        server.api_key = "expired-key"  # the key is renewed on the server side
        assert shipper.flush(15)
        assert delivered_numbers(server) == list(range(30))
        assert shipper.dropped == {}
    finally:
        server.stop()


def _median_put_us(shipper: Shipper, count: int = 2000) -> float:
    samples = []
    for n in range(count):
        data = line(n)
        started = time.perf_counter_ns()
        shipper.put(data)
        samples.append((time.perf_counter_ns() - started) / 1000)
    return statistics.median(samples)


def test_a_down_or_slow_server_costs_the_caller_nothing(
    es_server: FakeElasticsearch, make_shipper: Callable[..., Shipper]
) -> None:
    healthy = make_shipper(es_server.url, batch_size=100)
    healthy_us = _median_put_us(healthy)
    down = make_shipper(f"http://127.0.0.1:{free_port()}", batch_size=100, queue_size=100_000)
    down_us = _median_put_us(down)
    es_server.delay = 2.0
    slow = make_shipper(es_server.url, batch_size=100, queue_size=100_000)
    slow_us = _median_put_us(slow)
    # put() only appends to a deque under a lock: a few microseconds whatever the server does.
    timings = {"healthy": healthy_us, "down": down_us, "slow": slow_us}
    assert max(timings.values()) < 50, timings
    es_server.delay = 0.0


def test_pipeline_ships_what_it_prints(es_server: FakeElasticsearch, configure_logs: Any) -> None:
    captured: CapturedLogs = configure_logs(
        ELASTICSEARCH_URL=es_server.url, ELASTICSEARCH_FLUSH_INTERVAL=0.05
    )
    structlog.get_logger("shop").info("to elasticsearch", order=1)
    from django.test import Client

    Client().get("/ok/")
    from instrumentation import logging as fleet_logging

    fleet_logging.shutdown()
    printed = captured.lines()
    assert len(printed) == 2
    assert sorted(es_server.all_docs(), key=lambda d: d["message"]) == sorted(
        printed, key=lambda d: d["message"]
    )


def test_forked_child_starts_its_own_sender(
    es_server: FakeElasticsearch, make_shipper: Callable[..., Shipper]
) -> None:
    import os

    shipper = make_shipper(es_server.url, batch_size=10)
    shipper.put(line(0))
    assert shipper.flush(10)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child process
        code = 1
        try:
            ok = shipper.put(line(1)) and shipper.flush(10)
            code = 0 if ok else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert delivered_numbers(es_server) == [0, 1]


@pytest.mark.slow
def test_a_thirty_second_outage_loses_nothing(
    es_server: FakeElasticsearch, make_shipper: Callable[..., Shipper]
) -> None:
    shipper = make_shipper(es_server.url, batch_size=100, initial_backoff=0.5, max_backoff=5.0)
    stop = threading.Event()
    sent: list[int] = []

    def produce() -> None:
        n = 0
        while not stop.is_set():
            if shipper.put(line(n)):
                sent.append(n)
            n += 1
            time.sleep(0.005)

    producer = threading.Thread(target=produce)
    producer.start()
    try:
        time.sleep(2)
        es_server.down()
        time.sleep(30)
        es_server.up()
        time.sleep(2)
    finally:
        stop.set()
        producer.join()
    assert shipper.flush(30)
    assert shipper.dropped == {}
    assert delivered_numbers(es_server) == sent
    assert len(sent) > 4000


def _request_times(client: Any, count: int) -> float:
    samples = []
    for _ in range(count):
        started = time.perf_counter_ns()
        client.get("/ok/")
        samples.append(time.perf_counter_ns() - started)
    return statistics.median(samples) / 1000


def test_a_down_server_costs_requests_nothing_measurable(configure_logs: Any) -> None:
    from django.test import Client

    client = Client()
    down_url = f"http://127.0.0.1:{free_port()}"
    without: list[float] = []
    with_down: list[float] = []
    for _ in range(4):  # interleaved rounds, so machine noise hits both alike
        configure_logs()
        without.append(_request_times(client, 150))
        configure_logs(ELASTICSEARCH_URL=down_url, ELASTICSEARCH_QUEUE_SIZE=100_000)
        with_down.append(_request_times(client, 150))
    baseline, down = min(without), min(with_down)
    assert down < baseline * 1.3 + 50, {"without_us": baseline, "elasticsearch_down_us": down}


def test_the_client_does_not_trace_its_own_bulk_requests(
    es_server: FakeElasticsearch, make_shipper: Callable[..., Shipper]
) -> None:
    from instrumentation.tracing.testing import capture_spans

    with capture_spans() as spans:
        shipper = make_shipper(es_server.url)
        shipper.put(line(1))
        assert shipper.flush(10)
    assert delivered_numbers(es_server) == [1]
    assert spans.get_finished_spans() == ()
