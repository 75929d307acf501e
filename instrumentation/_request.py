"""What the middleware learned about one request, handed to each signal once it is served."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class RequestInfo:
    """One served request. ``method`` is normalised (unknown methods are ``_OTHER``)."""

    method: str
    route: str
    status: int
    duration_ns: int
    request_bytes: int
    response_bytes: int | None
    request_id: str
    exception: BaseException | None = None
