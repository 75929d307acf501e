"""Every alert has a runbook with the sections an on-call engineer needs, and no runbook is orphaned."""

from __future__ import annotations

import re

import pytest

from alerting import api
from instrumentation.catalog import series_names
from tests.alerting.conftest import RUNBOOKS

SECTIONS = ("## Meaning", "## Likely causes", "## First checks", "## Remedies")


def _alerts() -> list[str]:
    return api.alert_names()


@pytest.mark.parametrize("alert", _alerts())
def test_every_alert_has_a_complete_runbook(alert: str) -> None:
    path = RUNBOOKS / f"{alert}.md"
    assert path.exists(), f"write docs/runbooks/{alert}.md"
    text = path.read_text()
    assert text.startswith(f"# {alert}\n")
    positions = [text.find(s) for s in SECTIONS]
    assert all(p > 0 for p in positions), f"{alert}: sections {SECTIONS}"
    assert positions == sorted(positions), f"{alert}: sections out of order"
    assert "**Dashboard:**" in text
    assert "**Logs" in text


def test_runbooks_of_the_compose_rules_exist_too(compose_ctx) -> None:
    missing = [a for a in api.alert_names(compose_ctx) if not (RUNBOOKS / f"{a}.md").exists()]
    assert not missing


def test_no_runbook_for_an_alert_that_does_not_exist(compose_ctx) -> None:
    documented = {p.stem for p in RUNBOOKS.glob("*.md")}
    assert documented == set(_alerts()) | set(api.alert_names(compose_ctx))


def test_runbook_queries_use_catalogue_metrics() -> None:
    known = series_names()
    for path in RUNBOOKS.glob("*.md"):
        text = re.sub(r"[a-z_]+:[a-z0-9_]+:[a-z0-9_]+", "", path.read_text())  # recorded series
        for name in re.findall(r"\b(fleetobs_[a-z0-9_]+|http_server_[a-z0-9_]+)\b", text):
            assert name in known, f"{path.name} mentions unknown metric {name}"


def _line(text: str, label: str) -> str:
    return next(line for line in text.splitlines() if line.startswith(f"{label}"))


KQL_FIELD = re.compile(r"(?:^|\(|\s)([a-z_@][a-z0-9_.@]*)\s*(?::|>=|<=|>|<)\s")


def test_runbook_log_searches_use_catalogue_fields() -> None:
    from instrumentation.catalog import LOG_FIELDS

    known = {f.name for f in LOG_FIELDS}
    for path in RUNBOOKS.glob("*.md"):
        line = _line(path.read_text(), "2. **Logs")
        if "KQL" not in line:
            continue
        query = line.split("`")[1]
        fields = set(KQL_FIELD.findall(query))
        assert fields, f"{path.name}: no field in {query!r}"
        assert fields <= known, f"{path.name}: {sorted(fields - known)} are not log fields ({query!r})"


@pytest.mark.parametrize("alert", _alerts())
def test_runbook_names_the_dashboard_its_alert_opens(alert: str) -> None:
    dashboards = pytest.importorskip("dashboards.generate").dashboards()
    titles = {d["uid"]: d["title"] for d in dashboards.values()}
    line = _line((RUNBOOKS / f"{alert}.md").read_text(), "1. **Dashboard:**")
    for rule in (a for a in api.alerts(api.build_context()) if a.alert == alert):
        uid = re.search(r"/d/([a-z0-9-]+)", rule.dashboard_url).group(1)  # type: ignore[union-attr]
        title = titles[uid]
        assert f"**{title}**" in line or alert == "Watchdog", f"{alert} opens {title!r}: {line}"
        assert title in line, f"{alert} opens {title!r}: {line}"
