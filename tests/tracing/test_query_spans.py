"""Query spans made from the per-statement cache: each span is still its own.

Every query of one statement shares the span name and attributes computed once for it; these
tests check that what one query's span gets (an error, an attribute set by code running inside
the query) stays on that span, that the query span is the current span while the driver runs,
and that a renamed database is seen.
"""

from __future__ import annotations

import copy
import pickle
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import DatabaseError, connection
from django.test import RequestFactory
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from instrumentation import db, tracing
from instrumentation.tracing.spans import FastSpan, FrozenAttributes

SQL = "SELECT %s"


@pytest.fixture
def request_span(spans: InMemorySpanExporter) -> Iterator[InMemorySpanExporter]:
    """A request's server span, current for the test's queries."""
    request = RequestFactory().get("/ok/")
    handle = tracing.start_request(request)
    try:
        yield spans
    finally:
        tracing.finish_request(handle, request, "ok/", 200, None)


def _queries(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans() if s.kind is SpanKind.CLIENT]


def _run(execute: Any, sql: str = SQL) -> None:
    context = {"connection": connection, "cursor": None}
    db._execute_wrapper(execute, sql, [1], False, context)


@pytest.mark.django_db
def test_an_error_stays_on_its_own_query_span(request_span: InMemorySpanExporter) -> None:
    def fails(*args: Any) -> None:
        raise DatabaseError("locked")

    _run(lambda *args: None)
    with pytest.raises(DatabaseError):
        _run(fails)
    _run(lambda *args: None)
    first, failed, last = _queries(request_span)
    assert failed.status.status_code is StatusCode.ERROR
    assert failed.attributes is not None
    assert failed.attributes["error.type"] == "DatabaseError"
    for ok in (first, last):
        assert ok.status.status_code is StatusCode.UNSET
        assert ok.attributes is not None
        assert "error.type" not in ok.attributes
        assert dict(ok.attributes) == {
            "db.system": "sqlite",
            "db.namespace": str(connection.settings_dict["NAME"]),
            "db.operation.name": "SELECT",
            "db.query.text": SQL,
        }


@pytest.mark.django_db
def test_code_inside_the_query_sees_the_query_span(request_span: InMemorySpanExporter) -> None:
    seen: list[str] = []

    def annotates(*args: Any) -> None:
        current = trace.get_current_span()
        seen.append(current.name)  # type: ignore[attr-defined]
        current.set_attribute("driver.note", "from inside")

    _run(annotates)
    _run(lambda *args: None)
    annotated, plain = _queries(request_span)
    assert seen == ["SELECT default"]
    assert annotated.attributes is not None
    assert plain.attributes is not None
    assert annotated.attributes["driver.note"] == "from inside"
    assert "driver.note" not in plain.attributes
    assert annotated.parent is not None
    assert plain.parent is not None
    assert annotated.parent.span_id == plain.parent.span_id


@pytest.mark.django_db
def test_a_renamed_database_is_seen(
    request_span: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    _run(lambda *args: None)
    monkeypatch.setitem(connection.settings_dict, "NAME", "renamed")
    _run(lambda *args: None)
    before, after = _queries(request_span)
    assert before.attributes is not None
    assert after.attributes is not None
    assert before.attributes["db.namespace"] != "renamed"
    assert after.attributes["db.namespace"] == "renamed"


@pytest.mark.django_db
def test_the_statement_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(db, "_MAX_CACHED", 8)
    for index in range(20):
        _run(lambda *args: None, f"SELECT {index}")
    assert 0 < len(db._databases[connection.alias].statements) <= 8
    db.reset()
    assert db._databases == {}


def test_shared_attributes_cannot_change_and_their_copies_can() -> None:
    shared = FrozenAttributes({"db.system": "sqlite"})
    with pytest.raises(TypeError):
        shared["db.system"] = "postgresql"
    with pytest.raises(TypeError):
        shared.update({"x": 1})
    for copied in (copy.copy(shared), copy.deepcopy(shared), pickle.loads(pickle.dumps(shared))):
        copied["x"] = 1
        assert copied == {"db.system": "sqlite", "x": 1}
    span = FastSpan(
        "SELECT default",
        trace.INVALID_SPAN_CONTEXT,
        None,
        SpanKind.CLIENT,
        shared,
        lambda s: None,
    )
    span.set_attribute("x", 1)
    assert dict(span.attributes) == {"db.system": "sqlite", "x": 1}
    assert shared == {"db.system": "sqlite"}
