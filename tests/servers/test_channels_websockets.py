"""WebSockets under Django Channels, served by a real daphne started with ``fleetobs serve daphne``.

The test project's Channels application (:mod:`tests.project.asgi_channels`: the WebSocket routes
wrapped in ``ObservedWebSockets``, as docs/deployment.md says) takes 50 WebSocket connections, each
exchanging 10 messages with the echo consumer and closing normally. Then:

* one scrape of ``/metrics`` reports exactly 50 connections opened, 0 open, 50 closed ``normal``,
  500 messages in and 500 out, on the echo route's pattern;
* a real OTLP receiver got exactly one SERVER span per connection (50, not one per message),
  each with its 10 messages in and out;
* the server printed one JSON close line per connection, carrying its span's trace id;
* a real Prometheus scraping the server answers every query of the Service dashboard's WebSocket
  row with data.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import websocket  # websocket-client

from dashboards import generate, uids
from instrumentation.catalog import UNMATCHED_ROUTE
from tests.dashboards import walk
from tests.dashboards.test_live import ALLOWED_DEAD, NO_WEBSOCKETS, evaluate, expand
from tests.servers.harness import Served, json_lines
from tests.support.procs import Prometheus, http_request, static_scrape_config
from tests.tracing.receiver import OtlpReceiver

pytestmark = [pytest.mark.integration, pytest.mark.slow]

APP = "tests.project.asgi_channels:application"
ROUTE = "ws/echo/<str:room>/"
CONNECTIONS = 50
MESSAGES = 10
JOB = "channels-under-test"
#: The Service dashboard's WebSocket panels (the sample fleet behind the other live test has none).
WEBSOCKET_PANELS = {title for (uid, title), why in ALLOWED_DEAD.items() if why == NO_WEBSOCKETS}


class ChannelsServed(Served):
    """``fleetobs serve daphne`` running the test project's Channels application."""

    def command(self) -> list[str]:
        args = ["-b", "127.0.0.1", "-p", str(self.port), APP, *self.extra_args]
        return [sys.executable, "-m", "fleetobs", "serve", "daphne", *args]


def wait_for(what: str, predicate: Callable[[], Any], timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = predicate()
        if found:
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"{what} within {timeout:g} s", pytrace=False)
        time.sleep(0.2)


def converse(base: str, index: int) -> list[str]:
    """One connection: ``MESSAGES`` messages echoed back, then a normal close."""
    connection = websocket.create_connection(f"{base}/ws/echo/room{index}/", timeout=30)
    try:
        replies = []
        for n in range(MESSAGES):
            connection.send(f"{index}:{n}")
            replies.append(connection.recv())
        return replies
    finally:
        connection.close()  # status 1000, and waits for the server's close frame


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every ``fleetobs_websocket_*`` sample of one scrape, by name and labels."""
    text = http_request(url + "/metrics").body.decode()
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for line in text.splitlines():
        if not line.startswith("fleetobs_websocket_"):
            continue
        name_labels, value = line.rsplit(" ", 1)
        name, _, rest = name_labels.partition("{")
        labels = tuple(
            (k, v.strip('"'))
            for k, _, v in (part.partition("=") for part in rest.rstrip("}").split(",") if part)
        )
        samples[(name, labels)] = float(value)
    return samples


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as server:
        yield server


def connection_spans(receiver: OtlpReceiver) -> list[Any]:
    return [s for s in receiver.spans if s.kind == "SERVER" and s.name.startswith("WebSocket ")]


def test_fifty_connections_are_measured_exactly(tmp_path: Path, receiver: OtlpReceiver) -> None:
    env = {
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": receiver.endpoint,
        "OTEL_TRACES_SAMPLER": "always_on",
        "OTEL_BSP_SCHEDULE_DELAY": "200",
    }
    server = ChannelsServed("daphne", env=env, workdir=tmp_path / "daphne")
    scrape_config = static_scrape_config(JOB, [f"127.0.0.1:{server.port}"])
    prometheus = Prometheus([scrape_config], workdir=tmp_path / "prometheus")
    with server, prometheus:
        prometheus.wait_for_targets_up(1)
        base = server.url.replace("http://", "ws://")
        with ThreadPoolExecutor(max_workers=10) as pool:
            replies = list(pool.map(lambda i: converse(base, i), range(CONNECTIONS)))
        assert replies == [[f"{i}:{n}" for n in range(MESSAGES)] for i in range(CONNECTIONS)]

        route = (("websocket_route", ROUTE),)
        # Labels in the exposition's (alphabetical) order.
        closed = (
            "fleetobs_websocket_connections_closed_total",
            (("websocket_close_reason", "normal"), *route),
        )
        # The server sees each close shortly after the client has its close frame back.
        samples = wait_for(
            "every connection closed on the server",
            lambda: (s := scrape(server.url)).get(closed) == CONNECTIONS and s,
        )
        assert samples == {
            ("fleetobs_websocket_connections_opened_total", route): 50.0,
            ("fleetobs_websocket_connections_active", route): 0.0,
            closed: 50.0,
            ("fleetobs_websocket_messages_received_total", route): 500.0,
            ("fleetobs_websocket_messages_sent_total", route): 500.0,
            ("fleetobs_websocket_connection_capacity", ()): 200.0,
        }
        assert UNMATCHED_ROUTE not in str(samples)

        spans = wait_for(
            "a span per connection", lambda: len(s := connection_spans(receiver)) >= CONNECTIONS and s
        )
        assert len(spans) == CONNECTIONS
        assert {s.name for s in spans} == {f"WebSocket {ROUTE}"}
        assert len({s.trace_id for s in spans}) == CONNECTIONS
        for span in spans:
            assert span.attributes["http.route"] == ROUTE
            assert span.attributes["websocket.messages.received"] == MESSAGES
            assert span.attributes["websocket.messages.sent"] == MESSAGES
            assert span.attributes["websocket.close.reason"] == "normal"
            assert span.resource["service.name"] == "servers-under-test"

        # The dashboard's WebSocket row, against the real Prometheus that scraped all this: once
        # it holds three scrapes of the final counts (a rate needs two samples in its window).
        closed_series = f'fleetobs_websocket_connections_closed_total{{job="{JOB}"}}'
        three_final = (
            f"count_over_time({closed_series}[10s]) >= 3 "
            f"and min_over_time({closed_series}[10s]) == {CONNECTIONS}"
        )
        wait_for(
            "Prometheus to scrape the closed connections three times",
            lambda: prometheus.query_value(three_final) is not None,
        )
        (service,) = [d for d in generate.dashboards().values() if d["uid"] == uids.SERVICE]
        checked, empty = [], []
        now = time.time()
        for panel, target in walk.prometheus_targets(service):
            if panel["title"] not in WEBSOCKET_PANELS:
                continue
            expr = expand(target["expr"], service, {"job": JOB})
            error, series = evaluate(prometheus, expr, instant=target["instant"], now=now)
            assert error is None, f"{panel['title']}: {error}\n{expr}"
            checked.append(panel["title"])
            if not series:
                empty.append(f"{panel['title']}: {expr}")
        assert set(checked) == WEBSOCKET_PANELS
        assert len(checked) == 6  # two queries per panel
        assert empty == []

        server.terminate()
    assert len(connection_spans(receiver)) == CONNECTIONS  # nothing more at exit, nothing twice

    lines = json_lines(server.log_path)
    closes = [line for line in lines if line["log"]["logger"] == "fleetobs.websocket"]
    assert len(closes) == CONNECTIONS
    assert {line["trace"]["id"] for line in closes} == {s.trace_id for s in spans}
    assert {line["message"] for line in closes} == {f"WebSocket {ROUTE} closed: normal (1000)"}
    assert all(line["service"]["name"] == "servers-under-test" for line in lines)
