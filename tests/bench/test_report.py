"""The benchmark report carries every section, and its parsers read what the tools print.

That docs/performance.md is the committed results rendered is `fleetobs generate --check`
(tests/cli/test_generate.py).
"""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks import load, report, stats

ROOT = Path(__file__).resolve().parents[2]

WRK_OUTPUT = """\
Running 10s test @ http://127.0.0.1:8000/trivial/
  1 threads and 4 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.30ms    2.01ms  40.12ms   95.10%
    Req/Sec     3.10k   210.55     3.52k    71.00%
  Latency Distribution
     50%  843.00us
     75%    1.10ms
     90%    1.70ms
     99%   12.50ms
  30862 requests in 10.00s, 5.18MB read
  Non-2xx or 3xx responses: 3
Requests/sec:   3085.61
Transfer/sec:    530.36KB
"""


def test_the_page_carries_every_section_and_the_machine() -> None:
    results = json.loads((ROOT / "benchmarks" / "results" / "latest.json").read_text())
    page = report.render(results)
    for heading in (
        "## Summary",
        "## Machine",
        "## Request overhead",
        "## Under load",
        "## Scrape cost",
        "## Log throughput",
        "## Where the microseconds go",
    ):
        assert heading in page
    assert results["machine"]["cpu"] in page
    assert results["machine"]["packages"]["Django"] in page


def test_wrk_output_is_parsed_with_units() -> None:
    parsed = load.parse_wrk(WRK_OUTPUT)
    assert parsed["rps"] == 3085.61
    assert parsed["p50_ms"] == 0.843
    assert parsed["p99_ms"] == 12.5
    assert parsed["requests"] == 30862
    assert parsed["non_2xx"] == 3


def test_summary_and_paired_differences() -> None:
    summary = stats.summary([5.0, 1.0, 3.0, 2.0, 4.0])
    assert summary == {"median": 3.0, "p25": 2.0, "p75": 4.0, "min": 1.0, "max": 5.0, "n": 5}
    assert stats.paired_differences([10.0, 12.0], [4.0, 5.0]) == [6.0, 7.0]
    assert stats.ratio(1.0, 0.0) is None
    assert stats.ratio(1.0, 4.0) == 0.25


def test_the_minimal_reference_is_reported_beside_ours_when_measured() -> None:
    results = json.loads((ROOT / "benchmarks" / "results" / "latest.json").read_text())
    load_configs = results["load"]["configs"]
    load_configs["minimal"] = {**load_configs["bare"], "throughput_vs_bare": 0.91, "hooks": "bare"}
    page = report.render(results)
    assert "the minimal reference middleware (`minimal`" in page
    assert "serves 91% of bare's requests per second" in page
    assert "bare Django and the minimal reference middleware with gunicorn's defaults" in page
