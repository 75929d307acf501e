"""Secrets in the shapes Django and drivers print them never leave the process, end to end.

A real gunicorn serves the sample shop with spans exported to an OTLP receiver and log lines
shipped to a protocol-level Elasticsearch. Requests put fresh canary secrets where ordinary code
puts them: a login form logged as Django prints a ``QueryDict`` (and Django's own password
fields), the same form in an exception message (so in the span's exception event and the stack's
last line), a JSON body with an escaped quote, database URLs with ``@`` and ``/`` in the
password, a card number, and a token in the URL path. No canary may appear in stdout, in any
span, or in any shipped document; the masked fields must still be there.
"""

from __future__ import annotations

import json
import secrets
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.logging.es_server import FakeElasticsearch
from tests.reliability.backends import SwitchableCollector
from tests.reliability.harness import copy_database, request, shop_env, wait_until
from tests.support.procs import Gunicorn

pytestmark = [pytest.mark.integration]


def _luhn_card() -> str:
    digits = [4, *(secrets.randbelow(10) for _ in range(14))]
    total = 0
    for i, digit in enumerate(reversed(digits)):
        doubled = digit * 2 if i % 2 == 0 else digit
        total += doubled - 9 if doubled > 9 else doubled
    return "".join(map(str, digits)) + str((10 - total % 10) % 10)


@dataclass
class Stack:
    app: Gunicorn
    collector: SwitchableCollector
    elasticsearch: FakeElasticsearch


@pytest.fixture(scope="module")
def stack(shop_database_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("leaks")
    database = copy_database(shop_database_template, workdir / "db")
    elasticsearch = FakeElasticsearch().start()
    try:
        with SwitchableCollector() as collector:
            env = shop_env(
                database,
                fleetobs={"SPAN_SCHEDULE_DELAY": 0.2, "ELASTICSEARCH_FLUSH_INTERVAL": 0.2},
                OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=collector.endpoint,
                FLEETOBS_ELASTICSEARCH_URL=elasticsearch.url,
                FLEETOBS_LOG_LEVEL="INFO",
            )
            with Gunicorn("sample_app.wsgi", workers=2, env=env, workdir=workdir / "app") as app:
                yield Stack(app, collector, elasticsearch)
    finally:
        elasticsearch.stop()


def test_no_canary_reaches_a_log_line_a_span_or_a_document(stack: Stack) -> None:
    canary = {
        name: f"cnry{secrets.token_hex(6)}" for name in ("pw", "pw1", "newpw", "old", "json", "db", "amqp")
    }
    card = _luhn_card()
    token = f"{secrets.token_hex(3)}-{secrets.token_hex(16)}"
    form = urllib.parse.urlencode(
        {
            "username": "ada",
            "password": canary["pw"],
            "password1": canary["pw1"],
            "new_password1": canary["newpw"],
            "old_password": canary["old"],
            "card_number": card,
        }
    ).encode()
    reply = request(
        stack.app.url,
        "/reliability/login/",
        method="POST",
        body=form,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Request-ID": "leak-login",
            "X-Json-Body": json.dumps({"password": f'hun"{canary["json"]}'}),
            "X-Database-Url": f"postgres://user:hun@{canary['db']}@db/x amqp://guest:pa/{canary['amqp']}@host//",
        },
    )
    assert reply.status == 500
    reset = request(stack.app.url, f"/reliability/reset/MQ/{token}/", headers={"X-Request-ID": "leak-reset"})
    assert reset.status == 200

    def everything_arrived() -> bool:
        ids = {str(d.get("http", {}).get("request", {}).get("id")) for d in stack.elasticsearch.all_docs()}
        spans = {s.attributes.get("http.request.id") for s in stack.collector.server_spans()}
        return (
            {"leak-login", "leak-reset"} <= ids and len(stack.collector.server_spans()) >= 2 and bool(spans)
        )

    assert wait_until(everything_arrived, 60), "the requests' documents and spans never arrived"
    log = stack.app.log_path.read_text()
    spans = repr([(s.name, s.attributes, s.events) for s in stack.collector.spans])
    documents = json.dumps(stack.elasticsearch.all_docs())
    secrets_sent = {**canary, "card": card, "token": token}
    for where, text in (("stdout", log), ("spans", spans), ("Elasticsearch", documents)):
        leaked = sorted(name for name, value in secrets_sent.items() if value in text)
        assert leaked == [], f"{leaked} reached {where}"
    # Masked, not dropped: the lines and the span event are there.
    assert "login attempt <QueryDict: {" in log
    assert "'password': [REDACTED]" in log
    assert "/reliability/reset/[REDACTED]/[REDACTED]/" in log  # uidb64 and token
    assert any(name == "exception" for s in stack.collector.spans for name, _ in s.events)
