"""``TRACE_PARENT_TRUST='trusted'``: an untrusted caller's ``sampled`` flag does not decide.

Ratio 0 makes the outcome certain: a caller that is not trusted cannot force its request to be
traced with ``traceparent ...-01``, though its trace id is still continued (logs and the
response header join up with the caller); a trusted network or header keeps the flag.
"""

from __future__ import annotations

import pytest
from django.test import Client
from opentelemetry.trace import SpanKind

from instrumentation.tracing.testing import capture_spans

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
PARENT_ID = "b7ad6b7169203331"
SAMPLED = f"00-{TRACE_ID}-{PARENT_ID}-01"
NOT_SAMPLED = f"00-{TRACE_ID}-{PARENT_ID}-00"


def _servers_after(headers: dict[str, str], **overrides: object) -> tuple[int, str]:
    with capture_spans(**overrides) as exporter:
        response = Client().get("/ok/", **headers)
        servers = [s for s in exporter.get_finished_spans() if s.kind is SpanKind.SERVER]
    return len(servers), response["X-Trace-Id"]


STRICT = {"trace_parent_trust": "trusted", "traces_sampler_arg": 0.0}


def test_default_follows_the_callers_flag() -> None:
    assert _servers_after({"HTTP_TRACEPARENT": SAMPLED}, traces_sampler_arg=0.0) == (1, TRACE_ID)


def test_untrusted_caller_cannot_force_sampling_but_keeps_its_trace_id() -> None:
    assert _servers_after({"HTTP_TRACEPARENT": SAMPLED}, **STRICT) == (0, TRACE_ID)


def test_untrusted_caller_is_sampled_at_the_services_own_ratio() -> None:
    strict_all = {**STRICT, "traces_sampler_arg": 1.0}
    assert _servers_after({"HTTP_TRACEPARENT": NOT_SAMPLED}, **strict_all) == (1, TRACE_ID)


@pytest.mark.parametrize(
    ("networks", "expected"),
    [(("127.0.0.0/8",), 1), (("10.0.0.0/8",), 0)],
    ids=["peer-in-trusted-network", "peer-elsewhere"],
)
def test_trusted_networks_keep_the_flag(networks: tuple[str, ...], expected: int) -> None:
    found = _servers_after({"HTTP_TRACEPARENT": SAMPLED}, **STRICT, trace_trusted_networks=networks)
    assert found == (expected, TRACE_ID)


@pytest.mark.parametrize(
    ("sent", "expected"), [("s3cret", 1), ("guess", 0)], ids=["right-value", "wrong-value"]
)
def test_trusted_header_keeps_the_flag(sent: str, expected: int) -> None:
    headers = {"HTTP_TRACEPARENT": SAMPLED, "HTTP_X_INTERNAL_CALLER": sent}
    found = _servers_after(headers, **STRICT, trace_trusted_headers=("X-Internal-Caller=s3cret",))
    assert found == (expected, TRACE_ID)
