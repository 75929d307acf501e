"""``ObservedWebSockets``: connections, messages, close reasons, one span and one log line per
connection, on the test project's Channels routes driven by Channels' own test communicator."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.test import override_settings

from instrumentation import _safety, conf
from instrumentation.catalog import UNMATCHED_ROUTE, WEBSOCKET_CLOSE_REASONS
from instrumentation.channels import ObservedWebSockets, close_reason
from instrumentation.logging.testing import CapturedLogs
from instrumentation.testing import get_sample_value
from instrumentation.tracing.testing import capture_spans
from tests.project.consumers import ConsumerBrokeError, EchoConsumer
from tests.project.routing import websocket_urlpatterns

ECHO = "ws/echo/<str:room>/"
# Channels closes stale database connections around each consumer call, as Django does per request.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def application() -> ObservedWebSockets:
    return ObservedWebSockets(URLRouter(websocket_urlpatterns), max_connections=50)


def value(name: str, **labels: str) -> float:
    return get_sample_value(name, labels) or 0.0


async def _converse(app: Any, path: str, messages: int, close: int = 1000) -> list[str]:
    communicator = WebsocketCommunicator(app, path)
    connected, _ = await communicator.connect()
    assert connected
    replies = []
    for i in range(messages):
        await communicator.send_to(text_data=f"hello {i}")
        replies.append(await communicator.receive_from())
    await communicator.disconnect(code=close)
    return replies


def converse(app: Any, path: str, messages: int, close: int = 1000) -> list[str]:
    return async_to_sync(_converse)(app, path, messages, close)


@pytest.mark.parametrize("path", ["/ws/echo/lobby/", "/ws/sync-echo/"])
def test_a_conversation_is_counted_per_connection_and_message(application: Any, path: str) -> None:
    route = path.strip("/") + "/" if "echo/lobby" not in path else ECHO
    for _ in range(3):
        assert converse(application, path, 4) == [f"hello {i}" for i in range(4)]
    assert value("fleetobs_websocket_connections_opened_total", websocket_route=route) == 3
    assert value("fleetobs_websocket_connections_active", websocket_route=route) == 0
    assert value("fleetobs_websocket_messages_received_total", websocket_route=route) == 12
    assert value("fleetobs_websocket_messages_sent_total", websocket_route=route) == 12
    closed = {"websocket_route": route, "websocket_close_reason": "normal"}
    assert value("fleetobs_websocket_connections_closed_total", **closed) == 3
    assert value("fleetobs_websocket_connection_capacity") == 50


def test_open_connections_are_counted_while_open(application: Any) -> None:
    async def scenario() -> list[float]:
        seen = []
        communicators = [WebsocketCommunicator(application, f"/ws/echo/room{i}/") for i in range(3)]
        for communicator in communicators:
            assert (await communicator.connect())[0]
            seen.append(value("fleetobs_websocket_connections_active", websocket_route=ECHO))
        for communicator in communicators:
            await communicator.disconnect()
            seen.append(value("fleetobs_websocket_connections_active", websocket_route=ECHO))
        return seen

    assert async_to_sync(scenario)() == [1, 2, 3, 2, 1, 0]


def test_nested_routers_give_the_joined_pattern(application: Any) -> None:
    assert converse(application, "/ws/rooms/12/", 1) == ["hello 0"]
    route = "ws/rooms/^(?P<number>[0-9]+)/$"
    assert value("fleetobs_websocket_messages_received_total", websocket_route=route) == 1


@pytest.mark.parametrize(
    ("code", "reason"), [(1000, "normal"), (1001, "going_away"), (1006, "abnormal"), (4000, "application")]
)
def test_the_client_close_code_gives_the_reason(application: Any, code: int, reason: str) -> None:
    converse(application, "/ws/echo/x/", 1, close=code)
    closed = {"websocket_route": ECHO, "websocket_close_reason": reason}
    assert value("fleetobs_websocket_connections_closed_total", **closed) == 1


def test_a_refused_connection_is_rejected_and_never_opened(application: Any) -> None:
    async def scenario() -> bool:
        connected, _ = await WebsocketCommunicator(application, "/ws/refused/").connect()
        return connected

    assert async_to_sync(scenario)() is False
    route = "ws/refused/"
    assert value("fleetobs_websocket_connections_opened_total", websocket_route=route) == 0
    closed = {"websocket_route": route, "websocket_close_reason": "rejected"}
    assert value("fleetobs_websocket_connections_closed_total", **closed) == 1
    assert value("fleetobs_websocket_connections_active", websocket_route=route) == 0


def test_the_server_close_code_gives_the_reason(application: Any) -> None:
    async def scenario() -> tuple[str, dict[str, Any]]:
        communicator = WebsocketCommunicator(application, "/ws/goodbye/")
        assert (await communicator.connect())[0]
        await communicator.send_to(text_data="hi")
        reply = await communicator.receive_from()
        closing = await communicator.receive_output()
        await communicator.wait()
        return reply, closing

    reply, closing = async_to_sync(scenario)()
    assert (reply, closing) == ("goodbye", {"type": "websocket.close", "code": 4001})
    closed = {"websocket_route": "ws/goodbye/", "websocket_close_reason": "application"}
    assert value("fleetobs_websocket_connections_closed_total", **closed) == 1


def test_a_consumer_that_raises_is_a_server_error_and_its_exception_goes_through(application: Any) -> None:
    async def scenario() -> None:
        communicator = WebsocketCommunicator(application, "/ws/broken/")
        assert (await communicator.connect())[0]
        await communicator.send_to(text_data="hi")
        await communicator.wait()

    with pytest.raises(ConsumerBrokeError):
        async_to_sync(scenario)()
    closed = {"websocket_route": "ws/broken/", "websocket_close_reason": "server_error"}
    assert value("fleetobs_websocket_connections_closed_total", **closed) == 1
    assert value("fleetobs_websocket_connections_active", websocket_route="ws/broken/") == 0


def test_a_bare_consumer_is_labelled_with_its_class() -> None:
    converse(ObservedWebSockets(EchoConsumer.as_asgi()), "/anything/", 2)
    route = "tests.project.consumers.EchoConsumer"
    assert value("fleetobs_websocket_messages_sent_total", websocket_route=route) == 2


def test_an_unmatched_path_is_labelled_unmatched(application: Any) -> None:
    async def scenario() -> None:
        await WebsocketCommunicator(application, "/ws/nowhere/").connect()

    with pytest.raises(ValueError, match="No route found"):  # the router's own answer, untouched
        async_to_sync(scenario)()
    closed = {"websocket_route": UNMATCHED_ROUTE, "websocket_close_reason": "rejected"}
    assert value("fleetobs_websocket_connections_closed_total", **closed) == 1


def test_messages_and_scopes_pass_through_unchanged() -> None:
    seen: dict[str, Any] = {}

    async def inner(scope: Any, receive: Any, send: Any) -> str:
        seen["scope"] = scope
        seen["connect"] = await receive()
        accept = {"type": "websocket.accept", "subprotocol": "chat", "headers": [(b"x-a", b"1")]}
        seen["accept"] = accept
        await send(accept)
        seen["disconnect"] = await receive()
        return "returned"

    scope = {"type": "websocket", "path": "/raw/", "headers": [], "subprotocols": ["chat"]}
    received: list[Any] = [{"type": "websocket.connect"}, {"type": "websocket.disconnect", "code": 1000}]
    sent: list[Any] = []

    async def receive() -> Any:
        return received.pop(0)

    async def send(message: Any) -> None:
        sent.append(message)

    first, last = received
    result = async_to_sync(ObservedWebSockets(inner))(scope, receive, send)
    assert result == "returned"
    assert seen["scope"] is scope
    assert seen["connect"] is first
    assert seen["disconnect"] is last
    assert sent == [seen["accept"]]
    assert sent[0] is seen["accept"]


def test_other_scopes_are_not_observed() -> None:
    calls = []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        calls.append(scope["type"])

    async_to_sync(ObservedWebSockets(inner))({"type": "lifespan"}, None, None)
    assert calls == ["lifespan"]
    assert not get_sample_value("fleetobs_websocket_connection_capacity")


def test_a_telemetry_failure_costs_the_connection_nothing(
    application: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from instrumentation import channels

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("telemetry bug")

    monkeypatch.setattr(channels._Connection, "on_send", broken)
    monkeypatch.setattr(channels._Connection, "finish", broken)
    monkeypatch.setattr(_safety, "RAISE_INTERNAL_ERRORS", False)
    assert converse(application, "/ws/echo/lobby/", 3) == ["hello 0", "hello 1", "hello 2"]
    assert value("fleetobs_internal_errors_total", where="channels.send") == 4  # accept + 3 sends
    assert value("fleetobs_internal_errors_total", where="channels.finish") == 1
    assert value("fleetobs_websocket_messages_received_total", websocket_route=ECHO) == 3


def test_one_span_per_connection_with_its_message_counts(application: Any) -> None:
    with capture_spans() as spans:
        converse(application, "/ws/echo/lobby/", 5)
        converse(application, "/ws/sync-echo/", 2, close=1001)
    finished = spans.get_finished_spans()
    assert [(s.name, s.kind.name) for s in finished] == [
        (f"WebSocket {ECHO}", "SERVER"),
        ("WebSocket ws/sync-echo/", "SERVER"),
    ]
    first, second = (dict(s.attributes or {}) for s in finished)
    assert first["http.route"] == ECHO
    assert first["network.protocol.name"] == "websocket"
    assert (first["websocket.messages.received"], first["websocket.messages.sent"]) == (5, 5)
    assert (first["websocket.close.code"], first["websocket.close.reason"]) == (1000, "normal")
    assert (second["websocket.messages.received"], second["websocket.close.reason"]) == (2, "going_away")
    assert finished[0].context.trace_id != finished[1].context.trace_id


def test_a_handshake_traceparent_is_the_parent_of_the_connection_span(application: Any) -> None:
    trace_id, parent_id = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"

    async def scenario() -> None:
        headers = [(b"traceparent", f"00-{trace_id}-{parent_id}-01".encode())]
        communicator = WebsocketCommunicator(application, "/ws/echo/a/", headers=headers)
        assert (await communicator.connect())[0]
        await communicator.disconnect()

    with capture_spans() as spans:
        async_to_sync(scenario)()
    (span,) = spans.get_finished_spans()
    assert f"{span.context.trace_id:032x}" == trace_id
    assert span.parent is not None
    assert f"{span.parent.span_id:016x}" == parent_id


def test_one_log_line_per_connection_close_with_the_trace_ids(application: Any, logs: CapturedLogs) -> None:
    with capture_spans() as spans:
        converse(application, "/ws/echo/lobby/", 3)
    (span,) = spans.get_finished_spans()
    (line,) = logs.by_logger("fleetobs.websocket")
    assert line["message"] == f"WebSocket {ECHO} closed: normal (1000)"
    assert line["log"]["level"] == "info"
    assert line["http"]["route"] == ECHO
    assert line["trace"]["id"] == f"{span.context.trace_id:032x}"
    assert line["span"]["id"] == f"{span.context.span_id:016x}"
    assert line["event"]["duration"] > 0
    # Catalogued fields, typed in the index template, not free-form labels.
    assert line["websocket"] == {
        "close": {"code": 1000, "reason": "normal"},
        "closed_by": "client",
        "messages": {"received": 3, "sent": 3},
    }
    assert "labels" not in line


def test_metrics_off_records_nothing(application: Any) -> None:
    with override_settings(FLEET_OBSERVABILITY={"METRICS_ENABLED": False}):
        conf.reset()
        assert converse(application, "/ws/echo/lobby/", 2) == ["hello 0", "hello 1"]
    conf.reset()
    assert get_sample_value("fleetobs_websocket_messages_received_total", {"websocket_route": ECHO}) is None


@pytest.mark.parametrize(
    ("code", "accepted", "reason"),
    [
        (1000, True, "normal"),
        (1001, True, "going_away"),
        (1005, True, "abnormal"),
        (1006, True, "abnormal"),
        (None, True, "abnormal"),
        (1002, True, "protocol_error"),
        (1009, True, "protocol_error"),
        (1008, True, "policy_violation"),
        (1011, True, "server_error"),
        (1014, True, "server_error"),
        (3001, True, "application"),
        (4999, True, "application"),
        (1004, True, "other"),
        (2000, True, "other"),
        (1000, False, "rejected"),
    ],
)
def test_close_reasons(code: int | None, accepted: bool, reason: str) -> None:
    assert close_reason(code, accepted) == reason
    assert reason in WEBSOCKET_CLOSE_REASONS


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "10"])
def test_max_connections_is_validated(bad: Any) -> None:
    with pytest.raises(ValueError, match="max_connections"):
        ObservedWebSockets(EchoConsumer.as_asgi(), max_connections=bad)
