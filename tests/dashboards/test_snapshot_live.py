"""``fleetobs dashboards snapshot`` against a real Prometheus scraping the sample fleet, checked in Chromium.

One fleet for the module: two gunicorn instances of the shop scraped every second by a real
Prometheus, under the shop's traffic mix with the flaky endpoint failing often, until 5xx
responses, exceptions and cache hits have been scraped. Then every generated dashboard is
rendered once over the fleet's whole life, and the pages are checked as a reader sees them:
every row and panel of the definition in order; every panel with data shows a chart, values or a
table in its unit; every empty panel says why (the fleet has no Celery worker and no broken
database, so those panels must say their metrics are absent); Elasticsearch panels show their
query. Headless Chromium opens each page offline: no console errors, no request leaves the page,
and full-page screenshots of the fleet overview (light and dark) are kept as test artefacts in
``$FLEETOBS_TEST_ARTEFACTS`` (default: the test's temporary directory, printed).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import pytest

from dashboards import generate, uids
from dashboards.snapshot import Snapshot, VariableError, take, why
from dashboards.snapshot.browser import find_chromium, visit
from dashboards.snapshot.prometheus import Prometheus
from dashboards.snapshot.run import DATA, EMPTY, ERROR, NOT_RENDERED, walk_panels
from dashboards.snapshot.units import format_value
from sample_app.fleet import Fleet
from sample_app.traffic import LoadGenerator
from tests.support.fixtures import FleetFactory, fleet_factory  # noqa: F401 - a pytest fixture
from tests.support.procs import in_ci

pytestmark = [pytest.mark.integration, pytest.mark.slow]

#: Scraped before the snapshot is taken, so stats, tables and charts all have something to show.
READY = {
    "requests": "sum(http_server_request_duration_seconds_count)",
    "5xx responses": 'sum(http_server_request_duration_seconds_count{http_response_status_code=~"5.."})',
    "exceptions": "sum(fleetobs_http_server_exceptions_total)",
    "cache hits": 'sum(fleetobs_cache_operations_total{cache_result="hit"})',
}
#: The suffix each unit writes (a value of 0 seconds is "0 s").
UNIT_TEXT = {
    "reqps": r" req/s$",
    "ops": r" ops/s$",
    "percentunit": r"%$",
    "s": r" (ns|µs|ms|s|min|hour|day|week|year)$",
    "bytes": r" (B|KiB|MiB|GiB|TiB)$",
    "short": r"^-?[0-9.]+( K| Mil| Bil| Tri)?$",
}


@dataclass
class Live:
    fleet: Fleet
    prometheus: Prometheus
    snapshot: Snapshot
    out: Path
    started: float


@pytest.fixture(scope="module")
def live(fleet_factory: FleetFactory, tmp_path_factory: pytest.TempPathFactory) -> Live:  # noqa: F811
    fleet = fleet_factory()
    assert fleet.prometheus is not None
    started = time.time() - 5
    prometheus = Prometheus(fleet.prometheus.url)
    fleet.set_faults(failure_rate=0.5)
    try:
        with LoadGenerator([app.url for app in fleet.instances], rate=20, users=4):
            deadline = time.monotonic() + 120
            begun = time.monotonic()
            pending = dict(READY)
            while pending or time.monotonic() - begun < 20:
                pending = {k: e for k, e in pending.items() if not (fleet.prometheus.query_value(e) or 0) > 0}
                if time.monotonic() > deadline:
                    pytest.fail(f"the fleet produced no {sorted(pending)} within 120 s", pytrace=False)
                time.sleep(1)
    finally:
        fleet.clear_faults()
    stopped = time.time()
    fleet.prometheus.wait_for_query(f"min(timestamp(up)) > {stopped + 2}", timeout=60)
    out = tmp_path_factory.mktemp("snapshot")
    snapshot = take(prometheus, out, started, time.time())
    span = time.time() - started
    print(
        f"\nsnapshot of {len(snapshot.pages)} dashboards over {span:.0f} s of data: {snapshot.seconds:.1f} s"
    )
    return Live(fleet, prometheus, snapshot, out, started)


class _Articles(HTMLParser):
    """Panel id -> the text inside its <article>, and the row headings in order."""

    def __init__(self) -> None:
        super().__init__()
        self.articles: dict[int, list[str]] = {}
        self.tags: dict[int, set[str]] = {}
        self.headings: list[str] = []
        self._current: int | None = None
        self._depth = 0
        self._in_h2 = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "article":
            self._current = int(values["data-panel-id"] or 0)
            self.articles[self._current] = []
            self.tags[self._current] = set()
            self._depth = 0
        elif self._current is not None:
            self.tags[self._current].add(tag)
            self.tags[self._current].update(f"{tag}.{c}" for c in (values.get("class") or "").split())
        if tag == "article" or self._current is not None:
            self._depth += 1
        self._in_h2 = tag == "h2"

    def handle_endtag(self, tag: str) -> None:
        if self._current is not None:
            self._depth -= 1
            if tag == "article":
                self._current = None
        self._in_h2 = False

    def handle_data(self, data: str) -> None:
        if self._current is not None:
            self.articles[self._current].append(data)
        elif self._in_h2:
            self.headings.append(data)


def _parse(path: Path) -> _Articles:
    parser = _Articles()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def test_every_generated_dashboard_is_rendered_with_its_rows_and_panels(live: Live) -> None:
    generated = {d["uid"]: d for d in generate.dashboards().values()}
    assert set(live.snapshot.pages) == set(generated)
    index = live.snapshot.index.read_text(encoding="utf-8")
    for uid, dashboard in generated.items():
        assert f'href="{uid}.html"' in index
        page = _parse(live.snapshot.pages[uid])
        rows = [p["title"] for p in walk_panels(dashboard) if p["type"] == "row"]
        assert page.headings == rows, uid
        panels = [p for p in walk_panels(dashboard) if p["type"] != "row"]
        assert list(page.articles) == [p["id"] for p in panels], uid
        for panel in panels:
            text = "".join(page.articles[panel["id"]])
            assert text.startswith(panel["title"]), (uid, panel["title"])
            assert panel.get("description", "") in text, (uid, panel["title"])


def test_each_panel_type_the_dashboards_use_is_covered(live: Live) -> None:
    used = {p["type"] for d in generate.dashboards().values() for p in walk_panels(d)} - {"row"}
    shown = {(r.panel["type"], r.status) for result in live.snapshot.results.values() for r in result.panels}
    for kind in used:
        assert any(k == kind for k, _ in shown), kind
    # Prometheus panels of every kind drawn with data; Elasticsearch ones of every kind marked.
    assert {("timeseries", DATA), ("stat", DATA), ("table", DATA)} <= shown
    assert {("timeseries", NOT_RENDERED), ("table", NOT_RENDERED), ("logs", NOT_RENDERED)} <= shown
    assert ("timeseries", EMPTY) in shown


def test_panels_with_data_show_charts_values_and_tables_in_their_units(live: Live) -> None:
    checked = 0
    for uid, result in live.snapshot.results.items():
        page = _parse(live.snapshot.pages[uid])
        for panel_result in result.panels:
            panel = panel_result.panel
            if panel["type"] == "row" or panel_result.status != DATA:
                continue
            tags = page.tags[panel["id"]]
            text = page.articles[panel["id"]]
            defaults = panel["fieldConfig"]["defaults"]
            unit = defaults.get("unit")
            where = f"{uid} / {panel['title']}"
            if panel["type"] == "timeseries":
                assert "svg.chart" in tags, where
                assert "table.legend" in tags, where
                names = [s.name for t in panel_result.targets for s in t.series]
                assert all(name in text for name in names), where
                cells = [t for t in text if re.search(UNIT_TEXT[unit], t)]
                assert cells, f"{where}: no value written in {unit}"
            elif panel["type"] == "stat":
                values = [s.last for t in panel_result.targets for s in t.series]
                for value in values:
                    shown = format_value(value, unit, defaults.get("decimals"))
                    assert shown in text, (where, shown)
                    assert re.search(UNIT_TEXT[unit], shown), (where, shown)
            elif panel["type"] == "table":
                assert "table" in tags, where
                for override in panel["fieldConfig"]["overrides"]:
                    names = [p["value"] for p in override["properties"] if p["id"] == "displayName"]
                    assert all(name in text for name in names), (where, names)
            checked += 1
    assert checked > 40


def test_empty_panels_say_why(live: Live) -> None:
    kinds = set()
    for uid, result in live.snapshot.results.items():
        page = _parse(live.snapshot.pages[uid])
        for panel_result in result.panels:
            if panel_result.panel["type"] == "row" or panel_result.status not in (EMPTY, ERROR):
                continue
            text = "".join(page.articles[panel_result.panel["id"]])
            assert "No data" in text
            for target in panel_result.targets:
                assert target.error is None, (uid, panel_result.panel["title"], target.error)
                assert target.reason is not None
                assert str(target.reason) in text
                kinds.add(target.reason.kind)
    # No Celery worker scraped: the task metrics were never stored.
    tasks = live.snapshot.results[uids.TASKS]
    reasons = {t.reason.kind for p in tasks.panels for t in p.targets if t.reason}
    assert why.ABSENT in reasons
    assert why.ABSENT in kinds


def test_a_filter_nobody_matches_names_the_matcher(live: Live, tmp_path: Path) -> None:
    snapshot = take(
        live.prometheus,
        tmp_path,
        live.started,
        time.time(),
        choices={"environment": ["no-such-environment"]},
        uids=[uids.OVERVIEW],
    )
    result = snapshot.results[uids.OVERVIEW]
    reasons = [t.reason for p in result.panels for t in p.targets if t.reason]
    assert reasons
    assert all(r.kind == why.NO_MATCH for r in reasons), reasons
    assert 'environment=~"no-such-environment"' in str(reasons[0])
    header = snapshot.pages[uids.OVERVIEW].read_text(encoding="utf-8")
    assert "no-such-environment" in header


def test_week_over_week_panels_say_last_week_has_no_data(live: Live) -> None:
    service = live.snapshot.results[uids.SERVICE]
    offsets = [t for p in service.panels for t in p.targets if "offset 1w" in t.expr]
    assert offsets
    for target in offsets:
        assert not target.series
        assert target.reason is not None
        assert target.reason.kind == why.NOT_IN_RANGE
        assert "offset of 1w" in str(target.reason)


def test_variables_are_expanded_as_grafana_expands_them(live: Live) -> None:
    result = live.snapshot.results[uids.SERVICE]
    exprs = [t.expr for p in result.panels for t in p.targets if not t.not_run]
    assert all("$" not in e for e in exprs)
    assert all('instance=~".+"' in e and 'environment=~".*"' in e for e in exprs)
    assert result.selections["instance"].options == ("shop-1", "shop-2")
    steps = {p.interval.step for p in result.panels if p.targets}
    assert steps == {1.0}, "the fleet scrapes every second: a short range's step is the scrape interval"


def test_pages_load_nothing_from_anywhere(live: Live) -> None:
    for path in [live.snapshot.index, *live.snapshot.pages.values()]:
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"""\b(?:src|href|xlink:href|action)\s*=\s*["']?\s*(?:https?:)?//""", text), path
        assert not re.search(r"url\(\s*['\"]?(?:https?:)?//|@import|<script|<link|<iframe", text), path


def _require_chromium() -> str:
    binary = find_chromium()
    if binary is None:
        message = "Chromium is not installed (Debian: apt-get install chromium)"
        if in_ci():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return binary


def _artefacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    configured = os.environ.get("FLEETOBS_TEST_ARTEFACTS")
    path = Path(configured) if configured else tmp_path_factory.mktemp("artefacts")
    path.mkdir(parents=True, exist_ok=True)
    return path


def test_pages_open_cleanly_offline_in_chromium(live: Live, tmp_path_factory: pytest.TempPathFactory) -> None:
    binary = _require_chromium()
    artefacts = _artefacts(tmp_path_factory)
    for uid, path in [("index", live.snapshot.index), *live.snapshot.pages.items()]:
        shot = artefacts / f"snapshot-{uid}.png" if uid == uids.OVERVIEW else None
        page = visit(path, screenshot=shot, binary=binary)
        assert page.console_errors == [], (uid, page.console_errors)
        assert page.requests == [], (uid, page.requests)
        assert page.height > 600 or uid == "index", (uid, page.height)
    dark = visit(
        live.snapshot.pages[uids.OVERVIEW], screenshot=artefacts / "snapshot-overview-dark.png", dark=True
    )
    assert dark.console_errors == []
    narrow = visit(live.snapshot.pages[uids.OVERVIEW], width=800, binary=binary)
    assert narrow.height > page.height  # panels stack below a laptop width
    for name in ("snapshot-fleetobs-overview.png", "snapshot-overview-dark.png"):
        assert (artefacts / name).stat().st_size > 20_000
    print(f"\nscreenshots of the fleet overview: {artefacts}")


def test_chromium_check_sees_requests_and_console_errors(tmp_path: Path) -> None:
    """The browser check itself: a page that fetches and logs an error is caught."""
    binary = _require_chromium()
    page = tmp_path / "bad.html"
    page.write_text(
        '<!doctype html><img src="http://192.0.2.1/pixel.png"><script>console.error("broken")</script>',
        encoding="utf-8",
    )
    found = visit(page, binary=binary)
    assert any("192.0.2.1" in r for r in found.requests)
    assert any("broken" in e for e in found.console_errors)


def test_the_command_writes_a_snapshot(live: Live, tmp_path: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "fleetobs",
        "dashboards",
        "snapshot",
        "--prometheus",
        live.prometheus.url,
    ]
    done = subprocess.run(
        [
            *command,
            "--from",
            "-2m",
            "--var",
            "job=shop",
            "--dashboard",
            uids.OVERVIEW,
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(tmp_path / f"{uids.OVERVIEW}.html"), str(tmp_path / "index.html")]
    assert "job=~&quot;shop&quot;" in (tmp_path / f"{uids.OVERVIEW}.html").read_text(encoding="utf-8")
    refused = subprocess.run(
        [*command, "--var", "nope=1", "--out", str(tmp_path)], capture_output=True, text=True, check=False
    )
    assert refused.returncode == 2
    assert "no dashboard has a variable nope" in refused.stderr


def test_an_unknown_variable_is_refused_before_any_query(live: Live, tmp_path: Path) -> None:
    with pytest.raises(VariableError, match="route"):
        take(
            live.prometheus,
            tmp_path,
            live.started,
            time.time(),
            choices={"route": ["x"]},
            uids=[uids.OVERVIEW],
        )
