"""The frame every dashboard shares: variables, links, time settings and layout.

A dashboard module hands :func:`dashboard` its uid, title, description and sections; this
adds the scope variables (``datasource``, ``environment``, ``job``, and ``instance`` unless the
dashboard has no Prometheus panel to narrow), a dropdown of
links to every other dashboard of the fleet (keeping the time range and variables), a shared
crosshair, and grid positions for every panel.
"""

from __future__ import annotations

from collections.abc import Sequence

from grafanalib import core as gl

from dashboards import uids, variables
from dashboards.panels import Section, layout

DEFAULT_TIME = gl.Time("now-1h", "now")
DEFAULT_REFRESH = "30s"


def dashboard(
    uid: str,
    title: str,
    description: str,
    sections: Sequence[Section],
    *,
    extra_variables: Sequence[gl.Template] = (),
    instance: bool = True,
    tags: Sequence[str] = (),
) -> gl.Dashboard:
    """A grafanalib dashboard in the house style (finalized by :mod:`dashboards.postprocess`)."""
    return gl.Dashboard(
        title=title,
        uid=uid,
        description=description,
        tags=sorted({uids.TAG, *tags}),
        timezone="browser",
        time=DEFAULT_TIME,
        refresh=DEFAULT_REFRESH,
        graphTooltip=gl.GRAPH_TOOLTIP_MODE_SHARED_CROSSHAIR,
        editable=False,
        templating=gl.Templating(list=[*variables.scope(instance=instance), *extra_variables]),
        links=[
            gl.DashboardLink(
                title="Fleet dashboards",
                tags=[uids.TAG],
                asDropdown=True,
                includeVars=True,
                keepTime=True,
                type="dashboards",
            )
        ],
        panels=layout(sections),
    )
