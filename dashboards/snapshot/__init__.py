"""``fleetobs dashboards snapshot``: the dashboards drawn from live Prometheus data, without Grafana.

The dashboards come from the same definitions that produce the JSON (:mod:`dashboards.generate`);
each becomes one self-contained HTML page, plus an ``index.html``::

    take()  ──> expand.selections()   variables as Grafana sets them (--var, else the defaults;
    │                                 query variables listed from Prometheus for the header)
    ├─> run.Runner                    every target expanded with its panel's interval and run
    │     └─> why.explain()           a target without data: which selector, which matcher
    └─> page.dashboard_page()         rows and panels laid out as in Grafana; charts by charts.py
                                      (matplotlib, inline SVG), stats, tables, units, thresholds

    prometheus.py   the HTTP API calls          promql.py   selectors of an expression
    units.py        Grafana's units and colours timerange.py  --from/--to
    browser.py      headless Chromium over its DevTools pipe (screenshots, console and requests)
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dashboards.expand import VariableError, selections
from dashboards.snapshot.page import PageContext, dashboard_page, index_page
from dashboards.snapshot.prometheus import Prometheus, PrometheusUnavailable, QueryError
from dashboards.snapshot.run import DashboardResult, Runner

__all__ = ["Prometheus", "PrometheusUnavailable", "QueryError", "Snapshot", "VariableError", "take"]

Json = dict[str, Any]


@dataclass
class Snapshot:
    """What :func:`take` wrote: the index, each dashboard page, and the data behind them."""

    index: Path
    pages: dict[str, Path] = field(default_factory=dict)
    results: dict[str, DashboardResult] = field(default_factory=dict)
    seconds: float = 0.0


def _select(dashboards: Mapping[str, Json], uids: Sequence[str]) -> dict[str, Json]:
    if not uids:
        from dashboards.generate import MODULES

        order = {module.UID: i for i, module in enumerate(MODULES)}
        return dict(
            sorted(dashboards.items(), key=lambda item: (order.get(item[1]["uid"], len(order)), item[0]))
        )
    by_uid = {d["uid"]: (name, d) for name, d in dashboards.items()}
    unknown = [uid for uid in uids if uid not in by_uid]
    if unknown:
        raise ValueError(
            f"no dashboard with uid {', '.join(unknown)} (there are: {', '.join(sorted(by_uid))})"
        )
    return dict(by_uid[uid] for uid in uids)


def take(
    prometheus: Prometheus,
    out: Path,
    start: float,
    end: float,
    *,
    choices: Mapping[str, Sequence[str]] | None = None,
    uids: Sequence[str] = (),
    scrape_interval: float | None = None,
    dashboards: Mapping[str, Json] | None = None,
    tz: dt.tzinfo | None = None,
) -> Snapshot:
    """Render the dashboards (all, or those in ``uids``) for ``start``..``end`` into ``out``.

    ``choices`` are variable values (``{"job": ["shop"]}``); a name no selected dashboard has
    raises :class:`VariableError`. ``scrape_interval`` defaults to the server's own.
    ``dashboards`` (file name -> JSON) defaults to the generated ones.
    """
    began = time.monotonic()
    if dashboards is None:
        from dashboards import generate

        dashboards = generate.dashboards()
    chosen = _select(dashboards, uids)
    choices = dict(choices or {})
    names = {v["name"] for d in chosen.values() for v in d.get("templating", {}).get("list", [])}
    unknown = sorted(set(choices) - names)
    if unknown:
        raise VariableError(
            f"no dashboard has a variable {', '.join(unknown)} (they have: {', '.join(sorted(names))})"
        )
    tz = tz or dt.datetime.now().astimezone().tzinfo or dt.UTC
    interval = scrape_interval if scrape_interval is not None else prometheus.scrape_interval()
    out.mkdir(parents=True, exist_ok=True)
    snapshot = Snapshot(index=out / "index.html")
    context = PageContext(
        prometheus_url=prometheus.url,
        tz=tz,
        generated=time.time(),
        dashboards=[(f"{d['uid']}.html", str(d.get("title", ""))) for d in chosen.values()],
    )
    with Runner(prometheus, scrape_interval=interval) as runner:
        lister = runner.lister(start, end)
        pending = []
        for dashboard in chosen.values():
            own = {v["name"] for v in dashboard.get("templating", {}).get("list", [])}
            picked = {name: values for name, values in choices.items() if name in own}
            selected = selections(dashboard, picked, lister)
            pending.append((dashboard["uid"], runner.submit(dashboard, selected, start, end)))
        # Each page is drawn as soon as its data is in, while later dashboards' queries run.
        for uid, wait in pending:
            result = snapshot.results[uid] = wait()
            path = out / f"{uid}.html"
            path.write_text(dashboard_page(result, context), encoding="utf-8")
            snapshot.pages[uid] = path
    results = [(f"{uid}.html", r) for uid, r in snapshot.results.items()]
    snapshot.index.write_text(index_page(results, context), encoding="utf-8")
    snapshot.seconds = time.monotonic() - began
    return snapshot
