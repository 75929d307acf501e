"""Wagtail: each page's requests are named after the page's model (``wagtail:blog.BlogPage``).

Wagtail serves every page from one catch-all URL pattern (``^((?:[\\w\\-]+/)*)$``), which would
make a whole site one route. Wagtail imports the ``wagtail_hooks`` module of every installed app,
so with Wagtail in ``INSTALLED_APPS`` this ``before_serve_page`` hook runs for each page Wagtail
serves and gives the request the route name ``wagtail:<app label>.<Model>`` of the page's model
(:func:`instrumentation.routes.name_request`). A site has as many names as page models (a few
dozen at most), however many pages. Without Wagtail this module is never imported.
"""

from __future__ import annotations

from typing import Any

from wagtail import hooks

from instrumentation.routes import name_request

_names: dict[type, str] = {}


def page_route(page: Any) -> str:
    """The route name of ``page``'s requests: ``wagtail:`` and its model's label."""
    model = type(page)
    name = _names.get(model)
    if name is None:
        name = _names[model] = f"wagtail:{model._meta.label}"
    return name


# Before every other hook: one that answers itself (a password form) still serves this page.
@hooks.register("before_serve_page", order=-1000)  # type: ignore[untyped-decorator, misc, unused-ignore]
def name_page_route(page: Any, request: Any, serve_args: Any, serve_kwargs: Any) -> None:
    name_request(request, page_route(page))
