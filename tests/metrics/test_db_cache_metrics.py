"""Database and cache metrics: real queries on SQLite, real cache calls on LocMem."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.test import Client

from instrumentation.testing import get_sample_value
from tests.project.models import Author, Book


@pytest.fixture
def library(db: None) -> None:
    for a in range(3):
        author = Author.objects.create(name=f"author {a}")
        for b in range(4):
            Book.objects.create(title=f"book {a}.{b}", author=author)


def test_n_plus_one_endpoint_is_detected(library: None) -> None:
    Client().get("/books/n-plus-one/")
    assert get_sample_value("fleetobs_db_n_plus_one_total", {"http_route": "books/n-plus-one/"}) == 1.0
    # 1 query for the books, then 1 per book for its author.
    assert (
        get_sample_value("fleetobs_db_queries_per_request_sum", {"http_route": "books/n-plus-one/"}) == 13.0
    )


def test_select_related_endpoint_is_not_flagged(library: None) -> None:
    Client().get("/books/joined/")
    assert get_sample_value("fleetobs_db_n_plus_one_total", {"http_route": "books/joined/"}) in (None, 0.0)
    assert get_sample_value("fleetobs_db_queries_per_request_sum", {"http_route": "books/joined/"}) == 1.0


def test_query_durations_by_operation(library: None) -> None:
    before = get_sample_value(
        "db_client_operation_duration_seconds_count",
        {"db_alias": "default", "db_system": "sqlite", "db_operation_name": "SELECT"},
    )
    list(Book.objects.all())
    after = get_sample_value(
        "db_client_operation_duration_seconds_count",
        {"db_alias": "default", "db_system": "sqlite", "db_operation_name": "SELECT"},
    )
    assert (after or 0) - (before or 0) == 1.0


def test_failing_queries_are_counted(db: None) -> None:
    from django.db import DatabaseError, connection

    with pytest.raises(DatabaseError), connection.cursor() as cursor:
        cursor.execute("SELECT * FROM no_such_table")
    assert (
        get_sample_value(
            "fleetobs_db_errors_total",
            {"db_alias": "default", "db_system": "sqlite", "error_type": "OperationalError"},
        )
        == 1.0
    )


def cache_ops(operation: str, result: str) -> float:
    value = get_sample_value(
        "fleetobs_cache_operations_total",
        {"cache_alias": "default", "cache_operation": operation, "cache_result": result},
    )
    return value or 0.0


def test_cache_hits_and_misses_are_exact() -> None:
    cache.clear()
    assert cache.get("absent") is None
    assert cache.get("absent", "fallback") == "fallback"
    cache.set("none-value", None)
    assert cache.get("none-value", "fallback") is None  # a cached None is a hit
    cache.set_many({"a": 1, "b": 2})
    assert cache.get_many(["a", "b", "c"]) == {"a": 1, "b": 2}
    assert cache_ops("get", "miss") == 2.0
    assert cache_ops("get", "hit") == 1.0
    assert cache_ops("get_many", "hit") == 2.0
    assert cache_ops("get_many", "miss") == 1.0
    assert cache_ops("set_many", "ok") == 1.0


def test_cached_view_counts_a_miss_then_a_hit(db: None) -> None:
    cache.clear()
    client = Client()
    client.get("/cached/")
    client.get("/cached/")
    assert cache_ops("get", "miss") == 1.0
    assert cache_ops("get", "hit") == 1.0
    assert (
        get_sample_value(
            "fleetobs_cache_operation_duration_seconds_count",
            {"cache_alias": "default", "cache_operation": "get"},
        )
        == 2.0
    )
