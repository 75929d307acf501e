"""What a span costs, measured with the production path (queue, export thread, OTLP encoding).

Only gross regressions fail (limits are many times the measured cost, which is printed);
the benchmark suite reports the real numbers.
"""

from __future__ import annotations

import statistics
import time

from django.http import HttpResponse
from django.test import RequestFactory

from instrumentation import tracing
from instrumentation.tracing.testing import discarding_export

ATTRIBUTES = {"db.system": "postgresql", "db.namespace": "shop", "db.operation.name": "SELECT",
              "db.query.text": "SELECT * FROM product WHERE id = ?"}  # fmt: skip


def _cpu_per_call(function: object, calls: int = 2000, rounds: int = 5) -> float:
    results = []
    for _ in range(rounds):
        started = time.process_time()  # the whole process: the export thread's encoding counts too
        for _ in range(calls):
            function()  # type: ignore[operator]
        tracing.force_flush(10)
        results.append((time.process_time() - started) / calls * 1e6)
    return statistics.median(results)


def test_span_cost_with_encoding(capsys: object) -> None:
    request = RequestFactory().get("/shop/products/7/", HTTP_USER_AGENT="bench")
    response = HttpResponse("ok")

    def server_span() -> None:
        handle = tracing.start_request(request)
        tracing.finish_request(handle, request, "shop/products/<int:pk>/", 200, response)

    def server_with_five_queries() -> None:
        handle = tracing.start_request(request)
        for _ in range(5):
            tracing.end_span(tracing.start_span("SELECT default", ATTRIBUTES))
        tracing.finish_request(handle, request, "shop/products/<int:pk>/", 200, response)

    def unrecorded_child() -> None:
        tracing.end_span(tracing.start_span("SELECT default", ATTRIBUTES))

    with discarding_export(otlp_endpoint="http://collector:4318/v1/traces", span_schedule_delay=0.05) as sink:
        server_cost = _cpu_per_call(server_span)
        with_queries = _cpu_per_call(server_with_five_queries)
        idle_child = _cpu_per_call(unrecorded_child)
        assert sink.requests > 0
    child_cost = (with_queries - server_cost) / 5
    print(f"\nserver span {server_cost:.1f} us, child {child_cost:.1f} us, unrecorded {idle_child:.2f} us")
    assert server_cost < 150
    assert child_cost < 100
    assert idle_child < 20
