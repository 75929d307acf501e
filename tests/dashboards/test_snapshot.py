"""The snapshot's building blocks, without a Prometheus: Grafana's variable and interval rules,
time ranges, units, thresholds, legends, selectors and table merging.

The live test (``test_snapshot_live.py``) renders every dashboard from a real Prometheus.
"""

from __future__ import annotations

import datetime as dt
import math

import pytest

from dashboards import expand, generate, uids
from dashboards.expand import Interval, Selection, VariableError, format_selection, interpolate
from dashboards.snapshot import promql
from dashboards.snapshot.page import table_data
from dashboards.snapshot.run import PanelResult, Series, TargetResult, legend, panel_width
from dashboards.snapshot.timerange import parse_range, parse_time
from dashboards.snapshot.units import format_value, threshold_color

NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("seconds", "width", "scrape", "step", "rate_interval"),
    [
        (3600, 533, 15, "15s", "1m"),  # 6.75 s a point rounds to 5 s, below the scrape interval
        (3600, 1600, 1, "2s", "4s"),  # 2.25 s a point
        (3600, 533, 5, "5s", "20s"),
        (86400, 1600, 15, "1m", "75s"),  # 54 s a point rounds to 1 m
        (7 * 86400, 800, 15, "15m", "915s"),  # 756 s rounds to 15 m (boundary 12.5 m)
        (600, 500, 1, "1s", "4s"),
        (600, 400, 1, "2s", "4s"),  # 1.5 s lies halfway and rounds up
    ],
)
def test_interval_follows_grafana(
    seconds: int, width: int, scrape: float, step: str, rate_interval: str
) -> None:
    interval = Interval(NOW - seconds, NOW, width, scrape)
    builtins = interval.builtins()
    assert builtins["__interval"] == step
    assert builtins["__rate_interval"] == rate_interval
    assert builtins["__range"] == f"{seconds}s"
    assert builtins["__range_s"] == str(seconds)


@pytest.mark.parametrize(
    ("seconds", "nice"),
    [(0.012, 0.01), (6.75, 5), (12.4, 10), (12.6, 15), (17.4, 15), (44, 30), (46, 60), (89, 60), (91, 120)],
)
def test_intervals_round_to_the_nearest_nice_duration(seconds: float, nice: float) -> None:
    assert expand.round_interval(seconds) == nice


def test_range_queries_are_aligned_to_the_step() -> None:
    start, end = Interval(1000.5, 4600.5, 533, 15).aligned()
    assert (start, end) == (990, 4590)


def test_a_long_range_never_asks_for_more_than_11000_points() -> None:
    assert Interval(0, 400 * 86400, 100_000, 1).step >= 400 * 86400 / 11_000


ALL_JOBS = Selection("job", ("shop", "worker"), all=True, all_value=".+", regex_escaped=True)
ONE = Selection("instance", ("127.0.0.1:8001",), regex_escaped=True)
TWO = Selection("instance", ("shop-1", "shop.2"), regex_escaped=True)
FIXED = Selection("slo_availability", ("0.999",))


@pytest.mark.parametrize(
    ("selection", "fmt", "expected"),
    [
        (ALL_JOBS, None, ".+"),  # a custom All value is written verbatim...
        (ALL_JOBS, "regex", ".+"),  # ...in every format
        (ONE, None, "127\\\\.0\\\\.0\\\\.1:8001"),  # regex-escaped for a PromQL string
        (TWO, None, "(shop-1|shop\\\\.2)"),
        (TWO, "regex", "(shop-1|shop\\.2)"),
        (TWO, "pipe", "shop-1|shop.2"),
        (TWO, "csv", "shop-1,shop.2"),
        (FIXED, None, "0.999"),  # neither multi nor All: as is
    ],
)
def test_variables_are_written_as_grafana_writes_them(
    selection: Selection, fmt: str | None, expected: str
) -> None:
    assert format_selection(selection, fmt) == expected


def test_every_reference_syntax_is_expanded_and_unknown_names_stay() -> None:
    selections = {"job": ALL_JOBS, "instance": TWO}
    text = 'x{job=~"$job", instance=~"${instance}"} [[job]] ${instance:pipe} $__rate_interval $nope'
    expanded = interpolate(text, selections, {"__rate_interval": "1m"})
    assert expanded == 'x{job=~".+", instance=~"(shop-1|shop\\\\.2)"} .+ shop-1|shop.2 1m $nope'


def test_selections_take_choices_and_keep_the_dashboards_defaults() -> None:
    dashboard = generate.dashboards()[f"{uids.OVERVIEW}.json"]
    listed = {"environment": ["test"], "job": ["shop"], "instance": ["shop-1", "shop-2"]}
    found = expand.selections(dashboard, {"job": ["shop"]}, lambda var, _query: listed[var["name"]])
    assert found["job"].values == ("shop",)
    assert not found["job"].all
    assert found["instance"].all
    assert found["instance"].all_value == ".+"
    assert found["instance"].text == "All (shop-1, shop-2)"
    assert found["environment"].all_value == ".*"
    assert found["slo_availability"].values == (expand_default(dashboard, "slo_availability"),)


def expand_default(dashboard: dict[str, object], name: str) -> str:
    variables = dashboard["templating"]["list"]  # type: ignore[index]
    return str(next(v for v in variables if v["name"] == name)["current"]["value"])


def test_query_variables_are_listed_with_the_variables_before_them_expanded() -> None:
    dashboard = generate.dashboards()[f"{uids.OVERVIEW}.json"]
    asked: dict[str, str] = {}

    def lister(variable: dict[str, object], query: str) -> list[str]:
        asked[str(variable["name"])] = query
        return []

    expand.selections(dashboard, {"environment": ["prod"]}, lister)
    assert asked["job"] == 'label_values(fleetobs_build_info{environment=~"prod"}, job)'


@pytest.mark.parametrize(
    ("choices", "message"),
    [
        ({"nope": ["x"]}, "no variable nope"),
        ({"slo_availability": ["0.5"]}, "takes one of"),
    ],
)
def test_impossible_choices_are_refused(choices: dict[str, list[str]], message: str) -> None:
    dashboard = generate.dashboards()[f"{uids.OVERVIEW}.json"]
    with pytest.raises(VariableError, match=message):
        expand.selections(dashboard, choices)


def test_var_arguments_parse_and_repeat() -> None:
    assert expand.parse_choices(["job=shop", "instance=a", "$instance=b", "route=a=b"]) == {
        "job": ["shop"],
        "instance": ["a", "b"],
        "route": ["a=b"],
    }
    with pytest.raises(VariableError, match="name=value"):
        expand.parse_choices(["job"])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("now", NOW),
        ("now-1h", NOW - 3600),
        ("-1h", NOW - 3600),
        ("now-1h30m", NOW - 5400),
        ("now+5m", NOW + 300),
        ("1700000000", 1_700_000_000),
        ("2026-05-01T12:00:00Z", dt.datetime(2026, 5, 1, 12, tzinfo=dt.UTC).timestamp()),
        ("2026-05-01T12:00:00", dt.datetime(2026, 5, 1, 12, tzinfo=dt.UTC).timestamp()),
    ],
)
def test_times_read_like_grafanas_picker(text: str, expected: float) -> None:
    assert parse_time(text, NOW) == expected


@pytest.mark.parametrize("text", ["now/d", "yesterday", "now-1x", "now*2"])
def test_unreadable_times_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"not|rounded|expected"):
        parse_time(text, NOW)


def test_a_range_must_go_forward() -> None:
    with pytest.raises(ValueError, match="start before it ends"):
        parse_range("now", "now-1h", NOW)


@pytest.mark.parametrize(
    ("value", "unit", "decimals", "expected"),
    [
        (0.0123, "percentunit", None, "1.23%"),
        (0.99548, "percentunit", 3, "99.548%"),
        (1, "percentunit", None, "100%"),
        (0.25, "s", None, "250 ms"),
        (0.000042, "s", None, "42 µs"),
        (2.5, "s", None, "2.5 s"),
        (90, "s", None, "1.5 min"),
        (7.93, "reqps", None, "7.93 req/s"),
        (1500, "reqps", None, "1.5 K req/s"),
        (0.0547, "ops", None, "0.0547 ops/s"),
        (2048, "bytes", None, "2 KiB"),
        (3 * 1024**3, "bytes", None, "3 GiB"),
        (3, "short", None, "3"),
        (2_500_000, "short", None, "2.5 Mil"),
        (0, "short", None, "0"),
        ("shop", "string", None, "shop"),
        (math.nan, "s", None, "NaN"),
    ],
)
def test_values_are_written_in_grafanas_units(
    value: object, unit: str, decimals: int | None, expected: str
) -> None:
    assert format_value(value, unit, decimals) == expected


def test_a_value_takes_the_colour_of_the_last_threshold_it_reaches() -> None:
    steps = [
        {"color": "green", "value": None},
        {"color": "orange", "value": 0.01},
        {"color": "red", "value": 0.05},
    ]
    assert threshold_color(0.001, steps) == threshold_color(-1, steps) == "#73bf69"
    assert threshold_color(0.01, steps) == "#ff9830"
    assert threshold_color(0.5, steps) == "#f2495c"
    assert threshold_color(1, None) is None


@pytest.mark.parametrize(
    ("fmt", "labels", "expected"),
    [
        ("{{job}} {{instance}}", {"job": "shop", "instance": "shop-1"}, "shop shop-1"),
        ("{{ job }} p95", {"job": "shop"}, "shop p95"),
        ("__auto", {"job": "shop", "le": "0.5"}, '{job="shop", le="0.5"}'),
        (None, {"__name__": "up", "job": "shop"}, 'up{job="shop"}'),
        ("__auto", {}, "sum(up)"),  # no labels: Grafana shows the expression
    ],
)
def test_legends_follow_the_legend_format(fmt: str | None, labels: dict[str, str], expected: str) -> None:
    assert legend(fmt, labels, "sum(up)") == expected


def test_selectors_are_found_in_expanded_queries() -> None:
    expr = (
        "histogram_quantile(0.95, sum by (le, job) (rate("
        'http_server_request_duration_seconds_bucket{job=~"shop", instance=~".+"}[1m] offset 1w))) '
        '/ on (job) group_left sum(up{job="shop"}) '
        'or label_replace(vector(0), "series", "x", "", "")'
    )
    found = promql.selectors(expr)
    assert [s.metric for s in found] == ["http_server_request_duration_seconds_bucket", "up"]
    assert found[0].offset == 7 * 86400
    assert found[0].text() == 'http_server_request_duration_seconds_bucket{job=~"shop", instance=~".+"}'
    assert (
        found[0].text(without=found[0].matchers[0])
        == 'http_server_request_duration_seconds_bucket{instance=~".+"}'
    )


def test_every_generated_query_has_selectors() -> None:
    for dashboard in generate.dashboards().values():
        for panel in dashboard["panels"]:
            for target in panel.get("targets", []):
                if "expr" in target:
                    assert promql.selectors(target["expr"]), target["expr"]


def test_panel_width_follows_the_grid() -> None:
    assert panel_width({"gridPos": {"w": 24}}) == 1600
    assert panel_width({"gridPos": {"w": 8}}) == 533
    assert panel_width({"gridPos": {"w": 8}, "maxDataPoints": 100}) == 100


def test_tables_merge_targets_on_labels_and_follow_the_panels_columns() -> None:
    dashboard = generate.dashboards()[f"{uids.OVERVIEW}.json"]
    panel = next(p for p in dashboard["panels"] if p["type"] == "table")
    targets = []
    for i, target in enumerate(panel["targets"]):
        result = TargetResult(target["refId"], target["expr"], True)
        result.series = [
            Series("", {"job": "shop"}, [NOW], [0.1 * (i + 1)]),
            Series("", {"job": "api"}, [NOW], [0.2 * (i + 1)]),
        ]
        targets.append(result)
    columns, rows = table_data(PanelResult(panel, Interval(NOW - 3600, NOW, 1600), targets))
    assert [c.header for c in columns][:3] == ["job", "Requests/s", "Errors"]
    assert [c.unit for c in columns][:3] == ["string", "reqps", "percentunit"]
    assert len(rows) == 2
    assert rows[0]["job"] == "api"  # sorted by the panel's sortBy, descending
    assert rows[0]["Value #A"] == pytest.approx(0.2)
