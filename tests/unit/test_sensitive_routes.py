"""Credentials in URL paths (``/reset/<uidb64>/<token>/``) never reach log lines or spans.

Requests go through the real middleware and Django's test client to a URLconf that includes
Django's own ``django.contrib.auth.urls``; every log line (the access line and a line the view
logs) and every span is captured and searched for the secrets.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth.models import User
from django.contrib.auth.tokens import default_token_generator
from django.test import AsyncClient, Client, override_settings
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from instrumentation.logging.testing import CapturedLogs, capture_logs
from instrumentation.tracing.testing import capture_spans

MASK = "[REDACTED]"
BASE = {"SERVICE_NAME": "tests", "LOGGING_CONFIGURE": False, "TRACING_ENABLED": False}
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "OPTIONS": {
            "loaders": [
                (
                    "django.template.loaders.locmem.Loader",
                    {"registration/password_reset_confirm.html": "{{ validlink }}"},
                )
            ]
        },
    }
]


class Seen:
    """What the logs and the spans of the requests made in the block said."""

    def __init__(self, logs: CapturedLogs, spans: Any) -> None:
        self.logs = logs
        self.spans = spans

    def server_spans(self) -> list[Any]:
        return [s for s in self.spans.get_finished_spans() if s.kind.name == "SERVER"]

    def text(self) -> str:
        """Everything: log lines, span names, attributes and events."""
        spans = [
            {
                "name": s.name,
                "attributes": dict(s.attributes or {}),
                "events": [[e.name, dict(e.attributes or {})] for e in s.events],
            }
            for s in self.spans.get_finished_spans()
        ]
        return self.logs.text + json.dumps(spans)

    def paths(self, logger: str) -> list[str]:
        return [line["url"]["path"] for line in self.logs.by_logger(logger)]


@pytest.fixture
def seen() -> Iterator[Seen]:
    with (
        override_settings(ROOT_URLCONF="tests.project.urls_sensitive", TEMPLATES=TEMPLATES),
        capture_logs() as logs,
        capture_spans() as spans,
    ):
        yield Seen(logs, spans)


@pytest.mark.django_db
def test_password_reset_confirmation_token_is_masked(seen: Seen) -> None:
    user = User.objects.create_user("ada")
    uidb64 = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    client = Client()
    # Django's flow: the emailed link stores the token in the session and redirects.
    first = client.get(f"/accounts/reset/{uidb64}/{token}/")
    assert first.status_code == 302
    assert first["Location"] == f"/accounts/reset/{uidb64}/set-password/"
    second = client.get(first["Location"])
    assert second.status_code == 200
    assert second.content == b"True"  # a valid link: the view saw the real values

    everything = seen.text()
    assert token not in everything
    assert f"/{uidb64}/" not in everything
    assert seen.paths("fleetobs.access") == [f"/accounts/reset/{MASK}/{MASK}/"] * 2
    spans = seen.server_spans()
    assert [s.attributes["url.path"] for s in spans] == [f"/accounts/reset/{MASK}/{MASK}/"] * 2
    assert {s.name for s in spans} == {"GET accounts/reset/<uidb64>/<token>/"}
    assert {s.attributes["http.route"] for s in spans} == {"accounts/reset/<uidb64>/<token>/"}


SECRET = "s3cr3t-0f-f0rty-ch4rs-xxxxxxxxxxxxxxxxxx"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "logged"),
    [
        (f"/invites/{SECRET}/accept/", f"/invites/{MASK}/accept/"),
        (f"/downloads/2024/{SECRET}/report.pdf", f"/downloads/{MASK}"),
        (f"/activate/{SECRET}/", f"/activate/{MASK}/"),
        (f"/legacy-reset/3k-{SECRET}/", f"/legacy-reset/{MASK}-{MASK}/"),
    ],
)
def test_token_routes_are_masked_in_every_line_of_the_request(seen: Seen, path: str, logged: str) -> None:
    assert Client().get(path).status_code == 200
    assert SECRET not in seen.text()
    assert seen.paths("tests.sensitive") == [logged]  # logged by the view, during the request
    assert seen.paths("fleetobs.access") == [logged]
    (span,) = seen.server_spans()
    assert span.attributes["url.path"] == logged


@pytest.mark.django_db
def test_djangos_own_line_about_the_request_carries_the_masked_path(seen: Seen) -> None:
    assert Client().get(f"/revoked/{SECRET}/").status_code == 403
    (line,) = seen.logs.by_logger("django.request")
    assert line["url"]["path"] == f"/revoked/{MASK}/"
    assert seen.paths("fleetobs.access") == [f"/revoked/{MASK}/"]
    # Django writes the path into the message text itself: the masked path replaces it there.
    assert line["message"] == f"Forbidden (Permission denied): /revoked/{MASK}/"
    assert SECRET not in seen.text()


@pytest.mark.django_db
def test_a_line_the_view_writes_with_the_path_in_its_text_is_masked(seen: Seen) -> None:
    assert Client().get(f"/echo-path/{SECRET}/").status_code == 200
    (line,) = seen.logs.by_logger("tests.sensitive")
    assert line["message"] == f"serving /echo-path/{MASK}/ now"
    assert SECRET not in seen.text()


@pytest.mark.django_db
def test_async_views_are_masked_too(seen: Seen) -> None:
    response = async_to_sync(AsyncClient().get)(f"/async/invites/{SECRET}/accept/")
    assert response.status_code == 200
    assert SECRET not in seen.text()
    assert seen.paths("tests.sensitive") == [f"/async/invites/{MASK}/accept/"]
    assert seen.paths("fleetobs.access") == [f"/async/invites/{MASK}/accept/"]


@pytest.mark.django_db
def test_routes_without_credentials_are_untouched(seen: Seen) -> None:
    client = Client()
    assert client.get("/items/7/").status_code == 200
    assert client.get("/keywords/monkey-keys/").status_code == 200  # "keyword" is not "key"
    assert client.get("/magic/abracadabra/").status_code == 200
    assert seen.paths("fleetobs.access") == ["/items/7/", "/keywords/monkey-keys/", "/magic/abracadabra/"]
    assert [s.attributes["url.path"] for s in seen.server_spans()] == seen.paths("fleetobs.access")


@pytest.mark.django_db
def test_more_names_in_settings(seen: Seen) -> None:
    with override_settings(FLEET_OBSERVABILITY={**BASE, "SENSITIVE_URL_KWARGS": ["spell"]}):
        with capture_logs() as logs:
            assert Client().get("/magic/abracadabra/").status_code == 200
    (line,) = logs.by_logger("fleetobs.access")
    assert line["url"]["path"] == f"/magic/{MASK}/"
    assert "abracadabra" not in logs.text


@pytest.fixture
def instrumentor_spans() -> Iterator[Any]:
    """OpenTelemetry's Django instrumentation active (what ``opentelemetry-instrument`` does)."""
    from opentelemetry import trace
    from opentelemetry.instrumentation.django import DjangoInstrumentor
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from instrumentation import conf
    from instrumentation.tracing import provider

    exporter = InMemorySpanExporter()
    theirs = TracerProvider()
    theirs.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(theirs)
    conf.reset()
    instrumentor = DjangoInstrumentor()
    instrumentor.instrument(tracer_provider=theirs)
    try:
        with override_settings(
            ROOT_URLCONF="tests.project.urls_sensitive",
            FLEET_OBSERVABILITY={**BASE, "TRACING_ENABLED": True},
        ):
            yield exporter
    finally:
        instrumentor.uninstrument()
        provider._restore_global_provider()


@pytest.mark.django_db
def test_the_span_of_opentelemetrys_django_instrumentation_is_masked(instrumentor_spans: Any) -> None:
    with capture_logs() as logs:
        assert Client().get(f"/invites/{SECRET}/accept/?page=2").status_code == 200
    (server,) = [s for s in instrumentor_spans.get_finished_spans() if s.kind.name == "SERVER"]
    assert server.attributes["url.path"] == f"/invites/{MASK}/accept/"
    assert SECRET not in json.dumps({"name": server.name, **dict(server.attributes or {})})
    assert SECRET not in logs.text
