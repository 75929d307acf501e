"""The tracing package's public names are the contract the middleware, db, cache and logging use."""

from __future__ import annotations

import inspect

from instrumentation import tracing


def test_exported_members() -> None:
    assert tracing.__all__ == [
        "add_event",
        "current_ids",
        "end_span",
        "finish_request",
        "force_flush",
        "record_exception",
        "request_ids",
        "reset",
        "sampled_trace_id",
        "setup",
        "shutdown",
        "start_request",
        "start_span",
    ]


def test_contract_signatures() -> None:
    def parameters(name: str) -> list[str]:
        return list(inspect.signature(getattr(tracing, name)).parameters)

    assert parameters("start_request") == ["request", "info"]  # info: the middleware's RequestInfo
    assert parameters("finish_request") == ["handle", "request", "route", "status", "response"]
    assert parameters("record_exception") == ["handle", "exc"]
    assert parameters("start_span")[:2] == ["name", "attributes"]
    assert parameters("end_span") == ["handle", "exc"]
    assert parameters("add_event") == ["name", "attributes"]
    assert parameters("current_ids") == []
    assert parameters("sampled_trace_id") == ["handle"]
    assert parameters("request_ids") == ["handle"]


def test_everything_is_a_no_op_on_none_handles() -> None:
    tracing.record_exception(None, ValueError())
    tracing.finish_request(None, None, "r", 200, None)
    tracing.end_span(None)
    assert tracing.sampled_trace_id(None) is None
    assert tracing.request_ids(None) is None
