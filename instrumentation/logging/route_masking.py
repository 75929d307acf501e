"""Masking a credential in the request's path for every line still to be logged about it.

The request's context (:class:`~instrumentation.logging.request_context.RequestContext`) is bound
before Django resolves the URL, so it starts with the path as received. Once the middleware
knows which segments are credentials (:func:`instrumentation._request.masked_path`), it calls
:func:`mask_path`: the context is changed in place, so the bound context variable, the copy
left on the request for Django's own later lines, and the access line all carry the masked path.
The path as received is kept on the context, so that a message quoting it (Django's own
``Forbidden (Permission denied): /reset/<uidb64>/<token>/``, a view's
``log.info("serving %s", request.path)``) shows the masked path instead.
"""

from __future__ import annotations

from typing import Any

from instrumentation.logging import pipeline
from instrumentation.logging.request_context import REQUEST_ATTRIBUTE, RequestContext

__all__ = ["mask_path"]


def mask_path(request: Any, masked: str) -> None:
    """Make ``masked`` the ``url.path`` of the lines logged from now on about ``request``."""
    ctx = getattr(request, REQUEST_ATTRIBUTE, None)
    if not isinstance(ctx, RequestContext):
        return
    path = pipeline.current().redactor.clean(masked)
    if ctx.raw_path is None:
        ctx.raw_path = str(request.path)
    ctx.path = path
    ctx.flat["url.path"] = path
