"""Route names: what a request's route is called when its URL pattern says too little.

The ``http_route`` of a request (the metrics' label, the span's name and ``http.route``, the
access line's ``http.route``) is the URL pattern Django matched. A catch-all pattern (a CMS's
page view, a single-page app's fallback, flatpages) makes every page one route. A route name
replaces the pattern for such requests. The first of these that gives one is used:

1. the view's own: :func:`route_name` (or a ``fleetobs_route`` attribute on the view function or
   class), a fixed name or a callable ``(request, resolver_match) -> str | None``;
2. the ``ROUTE_NAMER`` setting: the dotted path of such a callable, asked for every request
   that matched a URL pattern;
3. a name given to the request while it was served: Wagtail's pages are named after their model
   (``wagtail:blog.BlogPage``, see :mod:`instrumentation.wagtail_hooks`);
4. the URL pattern.

``None`` or an empty name means "no name": the next rule decides. Names are label values, so
they are bounded like every label: at most ``ROUTE_NAME_LIMIT`` distinct names per process
(names longer than 128 characters are cut); a request whose name would go beyond keeps its URL
pattern, and a warning says so once. A namer that raises is logged once and the pattern used.
The trivial request (no name anywhere) costs a dict lookup by view (what the view says is read
once per view).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from django.utils.module_loading import import_string

from instrumentation.conf import Settings
from instrumentation.lifecycle import on_reset

__all__ = ["ATTRIBUTE", "name_request", "namer_problem", "route_name"]

#: The view attribute read for a route name (set by :func:`route_name`).
ATTRIBUTE = "fleetobs_route"
_REQUEST_ATTRIBUTE = "_fleetobs_route"
_MAX_LENGTH = 128
_MAX_VIEWS = 4096
_UNSEEN = object()
#: Whether any request of this process was given a name (:func:`name_request`).
_requests_named = False

Namer = Callable[[Any, Any], "str | None"]
View = TypeVar("View")
logger = logging.getLogger("fleetobs.routes")


def route_name(name: str | Namer) -> Callable[[View], View]:
    """Name the route of the requests a view serves: a fixed name, or a callable
    ``(request, resolver_match) -> str | None`` deciding per request (``None``: the URL pattern).

    ::

        @route_name("spa")
        def index(request): ...

    Works on view functions and class-based views (decorate the class).
    """
    if not (isinstance(name, str) and name) and not callable(name):
        raise ValueError(f"route_name() takes a non-empty string or a callable, got {name!r}")

    def decorate(view: View) -> View:
        setattr(view, ATTRIBUTE, name)
        return view

    return decorate


def name_request(request: Any, name: str) -> None:
    """Give the request being served a route name (rule 3 above; used by built-in namers)."""
    global _requests_named
    _requests_named = True  # from now on, requests are looked at for a name
    request.__dict__[_REQUEST_ATTRIBUTE] = name


def _view_naming(func: Any) -> Any:
    naming = getattr(func, ATTRIBUTE, None)
    if naming is None:
        view_class = getattr(func, "view_class", None)
        if view_class is not None:
            naming = getattr(view_class, ATTRIBUTE, None)
    return naming


def namer_problem(settings: Settings) -> str | None:
    """Why ``ROUTE_NAMER`` cannot be used, or ``None`` when it is unset or fine."""
    path = settings.route_namer
    if not path:
        return None
    try:
        namer = import_string(path)
    except ImportError as exc:
        return f"ROUTE_NAMER {path!r} cannot be imported: {exc}"
    if not callable(namer):
        return f"ROUTE_NAMER {path!r} is not callable"
    return None


class RouteNames:
    """The names in use in this process, for one settings object."""

    __slots__ = ("_admitted", "_lock", "_reported", "_views", "limit", "namer", "settings")

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.limit = settings.route_name_limit
        self.namer: Namer | None = None
        self._admitted: set[str] = set()
        self._lock = threading.Lock()
        self._reported: set[str] = set()
        self._views: dict[Any, Any] = {}
        if settings.route_namer and namer_problem(settings) is None:
            self.namer = import_string(settings.route_namer)

    def name(self, request: Any, match: Any, route: str) -> str:
        """The route name of ``request`` (``route``, its URL pattern, when nothing names it)."""
        func = match.func
        naming = self._views.get(func, _UNSEEN)
        if naming is _UNSEEN:  # once per view: views are fixed when the URLconf is loaded
            naming = _view_naming(func)
            if len(self._views) < _MAX_VIEWS:
                self._views[func] = naming
        if naming is None and self.namer is None and not _requests_named:
            return route  # the trivial request
        name = None
        if naming is not None:
            name = naming if isinstance(naming, str) else self._ask(naming, request, match)
        if not name and self.namer is not None:
            name = self._ask(self.namer, request, match)
        if not name:
            name = request.__dict__.get(_REQUEST_ATTRIBUTE)
            if not name:
                return route
        return self._admit(name, route)

    def _ask(self, namer: Namer, request: Any, match: Any) -> str | None:
        try:
            name = namer(request, match)
        except Exception as exc:  # noqa: BLE001 - the user's namer never breaks a request
            self._report_once(
                f"raise:{getattr(namer, '__qualname__', namer)}:{type(exc).__name__}",
                "route namer %r raised; the URL pattern names the route",
                namer,
                exc_info=exc,
            )
            return None
        return name if isinstance(name, str) else None

    def _admit(self, name: str, route: str) -> str:
        if len(name) > _MAX_LENGTH:
            name = name[:_MAX_LENGTH]
        admitted = self._admitted
        if name in admitted:
            return name
        with self._lock:
            if name not in admitted:
                if len(admitted) >= self.limit:
                    self._report_once(
                        "limit",
                        "ROUTE_NAME_LIMIT (%d) reached: requests named otherwise keep their URL pattern "
                        "(first kept: %r for route %r)",
                        self.limit,
                        name,
                        route,
                    )
                    return route
                admitted.add(name)
        return name

    def _report_once(self, key: str, message: str, *args: Any, exc_info: Any = None) -> None:
        if key not in self._reported:
            self._reported.add(key)
            logger.warning(message, *args, exc_info=exc_info)


_names: RouteNames | None = None


def names_for(settings: Settings) -> RouteNames:
    """The route names of this process for ``settings`` (a fresh set when the settings change)."""
    global _names
    names = _names
    if names is None or names.settings is not settings:
        names = _names = RouteNames(settings)
    return names


@on_reset
def reset() -> None:
    """Forget the names admitted so far and the loaded namer."""
    global _names
    _names = None
