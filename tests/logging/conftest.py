"""Fixtures for the logging tests: the fake Elasticsearch and Kibana (the pipeline writing into
memory, ``logs`` and ``configure_logs``, is the whole suite's: :mod:`tests.support.logs`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.logging.es_server import FakeElasticsearch, FakeKibana


@pytest.fixture
def es_server() -> Iterator[FakeElasticsearch]:
    server = FakeElasticsearch()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def kibana_server() -> Iterator[FakeKibana]:
    server = FakeKibana()
    server.start()
    yield server
    server.stop()
