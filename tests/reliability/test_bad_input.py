"""Hostile input against a real gunicorn, compared with the same shop without the instrumentation.

Two servers of the same shop run side by side: one instrumented (metrics, traces to a real OTLP
collector, JSON logs on stdout), one without the app and the middleware
(``tests.reliability.bare_settings``, plain gunicorn). The hostile requests of
:mod:`tests.reliability.hostile` are sent as raw bytes.

* A sample of them goes to both servers: the answers (status and body, CSRF tokens aside) are
  the same, trace context is rejected without error (a new trace starts; a valid
  ``traceparent`` next to a hostile ``tracestate`` is still continued), and an invalid
  ``X-Request-ID`` is replaced by a generated one.
* 10,000 of them go to the instrumented server: no 5xx that the server without us does not also
  give, every stdout line is one JSON object whose values carry no raw control character, no
  secret from a query string or baggage reaches a log line or a span, every span batch decodes,
  and the number of series stops growing (the same after 10,000 as after 1,000, within a few).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.backends import SwitchableCollector
from tests.reliability.harness import (
    BARE_SETTINGS,
    get_field,
    json_lines,
    request,
    scrape,
    series_count,
    shop_env,
    stdout_lines,
)
from tests.reliability.hostile import VALID_TRACE_ID, Answer, hostile_requests, normalised, send
from tests.support.procs import Gunicorn

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
MULTILINE = frozenset({"message", "error.message", "error.stack_trace"})
SECRETS = ("s3cr3t-", "t0k3n", "hunter2")
REQUEST_ID = re.compile(r"[0-9a-f]{32}")


@dataclass
class Servers:
    instrumented: Gunicorn
    bare: Gunicorn
    collector: SwitchableCollector

    @staticmethod
    def address(app: Gunicorn) -> tuple[str, int]:
        return ("127.0.0.1", app.port)


@pytest.fixture(scope="module")
def servers(shop_database: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    workdir = tmp_path_factory.mktemp("bad-input")
    with SwitchableCollector() as collector:
        env = shop_env(
            shop_database, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=collector.endpoint, FLEETOBS_LOG_LEVEL="INFO"
        )
        bare_env = shop_env(shop_database, settings=BARE_SETTINGS)
        with (
            Gunicorn("sample_app.wsgi", workers=3, env=env, workdir=workdir / "instrumented") as instrumented,
            Gunicorn(
                "sample_app.wsgi", workers=2, env=bare_env, config=None, workdir=workdir / "bare"
            ) as bare,
        ):
            for path in ("/shop/products/", "/shop/products/1/", "/shop/categories/summary/", "/"):
                assert request(instrumented.url, path).status == 200
            yield Servers(instrumented, bare, collector)


def _send_all(app: Gunicorn, raws: list[bytes]) -> list[Answer]:
    address = Servers.address(app)
    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(lambda raw: send(address, raw), raws))


def test_answers_match_the_app_without_instrumentation(servers: Servers) -> None:
    requests = list(hostile_requests(600, seed=1))
    raws = [raw for _, raw in requests]
    ours = _send_all(servers.instrumented, raws)
    theirs = _send_all(servers.bare, raws)
    mismatches = [
        (kind, raw[:120], normalised(a)[0], normalised(b)[0])
        for (kind, raw), a, b in zip(requests, ours, theirs, strict=True)
        if normalised(a) != normalised(b)
    ]
    print(Counter(a.status for a in ours))
    assert not mismatches, f"{len(mismatches)} answers differ from the app without us, e.g. {mismatches[:5]}"

    checked = Counter()
    for (kind, raw), answer in zip(requests, ours, strict=True):
        if answer.status != 200:
            continue
        if kind == "traceparent":
            # Malformed context is ignored: the request is served in a trace of its own.
            assert answer.headers.get("x-trace-id"), raw[:200]
            assert answer.headers["x-trace-id"] != VALID_TRACE_ID, raw[:200]
            checked[kind] += 1
        elif kind == "tracestate":
            # A valid traceparent is continued even when tracestate is hostile.
            assert answer.headers.get("x-trace-id") == VALID_TRACE_ID, raw[:200]
            checked[kind] += 1
        elif kind == "request-id":
            assert REQUEST_ID.fullmatch(answer.headers.get("x-request-id", "")), raw[:200]
            checked[kind] += 1
    assert min(checked.values(), default=0) >= 5, checked


def _strings(value: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item, prefix)
    elif isinstance(value, str):
        yield prefix, value


def _assert_clean_logs(app: Gunicorn) -> int:
    lines = stdout_lines(app.log_path)  # decodes strictly: the output is valid UTF-8
    for line in lines:
        lowered = line.lower()
        leaked = [s for s in SECRETS if s in lowered]
        assert not leaked, f"secret {leaked} in a log line: {line[:300]}"
    access = 0
    for event in json_lines(app.log_path):
        assert get_field(event, "log.logger") != "fleetobs.internal", event
        for key, value in _strings(event):
            allowed = "\n\t" if key in MULTILINE else ""
            raw = [c for c in CONTROL.findall(value) if c not in allowed]
            assert not raw, f"raw control characters {raw!r} in {key}: {value[:200]!r}"
            value.encode("utf-8")  # no lone surrogates
        if get_field(event, "event.dataset") == "django.access":
            access += 1
    return access


def _count_series(text: str) -> int:
    labels = set()
    for line in text.splitlines():
        if line.startswith("http_server_request_duration_seconds_count{"):
            labels.add(line.rsplit(" ", 1)[0])
    return len(labels)


def test_ten_thousand_hostile_requests(servers: Servers) -> None:
    app = servers.instrumented
    baseline_total = series_count(scrape(app.url))
    first = [raw for _, raw in hostile_requests(1000, seed=2)]
    rest = [raw for _, raw in hostile_requests(9000, seed=3)]
    answers = _send_all(app, first)
    after_1k = scrape(app.url)
    answers += _send_all(app, rest)
    after_10k = scrape(app.url)
    statuses = Counter(a.status for a in answers)
    print(statuses)
    assert statuses[None] == 0, "some requests got no HTTP answer"

    # A 5xx is acceptable only when the app without us gives it too.
    raws = first + rest
    server_errors = [raws[i] for i, a in enumerate(answers) if a.status is not None and a.status >= 500]
    if server_errors:
        bare = _send_all(servers.bare, server_errors[:200])
        ours = [raw[:150] for raw, b in zip(server_errors, bare, strict=False) if (b.status or 0) < 500]
        assert not ours, f"5xx caused by the instrumentation: {ours[:5]}"

    # Bounded series: hostile paths and methods share a handful of label values.
    count_1k, count_10k = _count_series(after_1k), _count_series(after_10k)
    total_1k, total_10k = series_count(after_1k), series_count(after_10k)
    print(
        f"request series: {count_1k} after 1,000, {count_10k} after 10,000; "
        f"all series {baseline_total} -> {total_1k} -> {total_10k}"
    )
    assert count_10k <= count_1k + 5, (count_1k, count_10k)
    assert count_10k <= 80
    assert total_10k <= total_1k + 60, (baseline_total, total_1k, total_10k)

    # Logs: one clean JSON object per line; an access line for what Django served (probes aside).
    served = sum(1 for a in answers if "x-request-id" in a.headers)
    access = _assert_clean_logs(app)
    print(f"{served} requests served by Django, {access} access lines")
    assert access >= 0.8 * served
    # Spans: every batch decoded, no secret in any attribute.
    assert servers.collector.rejected == 0
    for span in servers.collector.spans:
        text = repr(span.attributes).lower() + repr(span.events).lower()
        assert not [s for s in SECRETS if s in text], span
