"""Wagtail pages are routes of their own: ``wagtail:<app>.<Model>``, not the catch-all pattern.

The Wagtail site (``tests.wagtail.settings``) runs in its own process: its apps cannot share the
main test settings. It migrates a fresh SQLite database, adds pages of two models with Wagtail's
API, and requests every page; many more pages than ``ROUTE_NAME_LIMIT`` (5 there) still give one
route per page model.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.procs import in_ci

pytestmark = [pytest.mark.slow]  # migrating Wagtail's apps takes some seconds
ROOT = Path(__file__).resolve().parents[2]
CATCH_ALL = r"^((?:[\w\-]+/)*)$"
BLOG_PAGES = 30
EVENT_PAGES = 20


@pytest.fixture(scope="module")
def site_report() -> dict[str, dict[str, int]]:
    if importlib.util.find_spec("wagtail") is None:
        message = "Wagtail is not installed: pip install wagtail"
        if in_ci():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.wagtail.settings", "OTEL_SDK_DISABLED": "true"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    result = subprocess.run(
        [sys.executable, "-m", "tests.wagtail.scenario", str(BLOG_PAGES), str(EVENT_PAGES)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    report: dict[str, dict[str, int]] = json.loads(result.stdout.splitlines()[-1])
    return report


def test_pages_of_two_models_get_two_routes(site_report: dict[str, dict[str, int]]) -> None:
    assert site_report["statuses"] == {"200": 1 + BLOG_PAGES + EVENT_PAGES, "404": 1}
    expected = {
        "wagtail:wagtailcore.Page": 1,  # the site's home page, a plain Page
        "wagtail:cms.BlogPage": BLOG_PAGES,
        "wagtail:cms.EventPage": EVENT_PAGES,
        CATCH_ALL: 1,  # the path no page answers: Wagtail served none
    }
    assert site_report["metrics"] == expected
    assert site_report["access"] == expected
    assert site_report["spans"] == {f"GET {route}": n for route, n in expected.items()}


def test_many_pages_stay_within_the_route_limit(site_report: dict[str, dict[str, int]]) -> None:
    named = [route for route in site_report["metrics"] if route != CATCH_ALL]
    assert len(named) <= 5 < BLOG_PAGES + EVENT_PAGES
