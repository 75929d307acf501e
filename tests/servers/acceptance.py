"""The acceptance every server passes (issue: every server Django runs under, first class).

Two workers (daphne: two processes sharing one metrics directory), 200 requests over 4 routes,
then 10 scrapes: each reports exactly the requests completed, per route, whichever process
answers it. SIGTERM ends the server within :data:`~tests.servers.harness.SIGTERM_BOUND`; every
line it printed is JSON naming the service, with one access line per request carrying the
request's trace id, and none of the server's own access lines.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tests.servers.harness import ROUTES, Served, check_output, drive, expected_counts, scrape_counts


def run_acceptance(servers: Sequence[Served]) -> list[dict[str, Any]]:
    """Run the acceptance against ``servers`` (started); return every line they printed."""
    urls = [server.url for server in servers]
    sent = drive(urls, count=200)
    assert [s.status for s in sent] == [ROUTES[s.path][1] for s in sent]
    expected = expected_counts(sent)
    scrapes = [scrape_counts(urls[i % len(urls)]) for i in range(10)]
    assert scrapes == [expected] * 10
    for server in servers:
        elapsed = server.terminate()
        print(f"{server.server}: exited {elapsed:.2f} s after SIGTERM")
    return check_output([server.log_path for server in servers], sent)
