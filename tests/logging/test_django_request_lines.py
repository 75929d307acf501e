"""Django's own ``django.request`` lines carry the trace id of the request they are about.

A returned 4xx/5xx response is logged by Django's handler after the middleware chain has
returned (``BaseHandler.get_response`` / ``get_response_async``), when the request's log
context is no longer bound; the line names its request in ``extra["request"]``.
"""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.test import AsyncClient, Client, override_settings

from instrumentation.logging.testing import CapturedLogs
from instrumentation.tracing.testing import capture_spans

pytestmark = pytest.mark.urls("tests.logging.own_formatter_urls")


def _server_trace_ids(spans: Any) -> list[str]:
    return [format(s.context.trace_id, "032x") for s in spans.get_finished_spans() if s.kind.name == "SERVER"]


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/returned/404/", 404),
        ("/returned/500/", 500),
        ("/missing/", 404),  # raised Http404
        ("/boom/", 500),  # raised exception
        ("/no/such/route/", 404),  # resolver miss
    ],
)
def test_django_request_line_carries_the_request_trace_id(logs: CapturedLogs, path: str, status: int) -> None:
    client = Client(raise_request_exception=False)
    with capture_spans() as spans:
        assert client.get(path).status_code == status
    (trace_id,) = _server_trace_ids(spans)
    (line,) = logs.by_logger("django.request")
    assert line["http"]["response"]["status_code"] == status
    assert line["trace"]["id"] == trace_id
    (access,) = logs.access()
    assert line["http"]["request"]["id"] == access["http"]["request"]["id"]
    assert line["span"]["id"] == access["span"]["id"]


def test_async_django_request_line_carries_the_request_trace_id(logs: CapturedLogs) -> None:
    with capture_spans() as spans:
        response = async_to_sync(AsyncClient().get)("/async/returned/404/")
    assert response.status_code == 404
    (trace_id,) = _server_trace_ids(spans)
    (line,) = logs.by_logger("django.request")
    assert line["trace"]["id"] == trace_id
    assert {entry["trace"]["id"] for entry in logs.by_logger("shop.views")} == {trace_id}


def test_a_later_request_line_is_not_given_an_earlier_request_trace(logs: CapturedLogs) -> None:
    client = Client(raise_request_exception=False)
    with capture_spans() as spans:
        client.get("/returned/404/")
        client.get("/returned/500/")
    first, second = _server_trace_ids(spans)
    lines = logs.by_logger("django.request")
    assert [line["trace"]["id"] for line in lines] == [first, second]


@override_settings(DEBUG=False)
def test_without_tracing_the_line_still_carries_the_request_id(logs: CapturedLogs) -> None:
    Client().get("/returned/404/")
    (line,) = logs.by_logger("django.request")
    (access,) = logs.access()
    assert line["http"]["request"]["id"] == access["http"]["request"]["id"]
    assert "trace" not in line
