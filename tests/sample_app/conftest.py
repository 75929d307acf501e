"""Fixtures for the sample app tests: a private PostgreSQL database, Redis, and a running app.

The sample app runs in subprocesses (gunicorn, management commands, a query probe) with its own
settings module, so it never fights the session-wide ``tests.settings`` of pytest-django.
PostgreSQL and Redis are the real local services; when one is missing the tests skip, or fail
under ``CI=true``.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from sample_app.fleet import Fleet
from tests.support.fixtures import start_fleet
from tests.support.procs import in_ci

POSTGRES_ADMIN_URL = os.environ.get("FLEETOBS_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("FLEETOBS_TEST_REDIS", "redis://127.0.0.1:6379/0")


def _unavailable(message: str) -> None:
    if in_ci():
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL of a uniquely named PostgreSQL database for this session, dropped afterwards."""
    psycopg = pytest.importorskip("psycopg")
    name = f"shop_test_{secrets.token_hex(4)}"
    try:
        admin = psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        _unavailable(f"PostgreSQL is not reachable at {POSTGRES_ADMIN_URL}: {exc}")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = POSTGRES_ADMIN_URL.rpartition("/")
    yield f"{base}/{name}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def redis_url() -> str:
    redis = pytest.importorskip("redis")
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3)
    try:
        client.ping()
    except redis.RedisError as exc:
        _unavailable(f"Redis is not reachable at {REDIS_URL}: {exc}")
    finally:
        client.close()
    return REDIS_URL


@pytest.fixture(scope="module")
def service_name() -> str:
    """A service name unique to this module: isolates cache keys and the Celery queue in Redis."""
    return f"shoptest{secrets.token_hex(3)}"


@pytest.fixture(scope="module")
def pg_shop(
    tmp_path_factory: pytest.TempPathFactory, postgres_url: str, redis_url: str, service_name: str
) -> Iterator[Fleet]:
    """One instance (2 gunicorn workers) on PostgreSQL and Redis, with a real Celery worker."""
    fleet = start_fleet(
        tmp_path_factory.mktemp("pg-shop"),
        instances=1,
        workers=2,
        service=service_name,
        database_url=postgres_url,
        redis_url=redis_url,
        celery_worker=True,
        prometheus=False,
    )
    try:
        yield fleet
    finally:
        fleet.stop()
        _forget_redis_keys(redis_url, service_name)


def _forget_redis_keys(url: str, service_name: str) -> None:
    """Remove this module's cache entries and Celery queue bindings from the shared Redis."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"*{service_name}*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture(scope="module")
def shop_url(pg_shop: Fleet) -> str:
    return pg_shop.instances[0].url


@pytest.fixture
def clean_faults(pg_shop: Fleet) -> Iterator[Fleet]:
    """The running shop, with every fault cleared before and after the test."""
    pg_shop.clear_faults()
    yield pg_shop
    pg_shop.clear_faults()


@pytest.fixture(scope="module")
def repo_root() -> Path:
    return Path(__file__).resolve().parents[2]
