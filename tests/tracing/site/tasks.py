"""Tasks of the tracing test site."""

from __future__ import annotations

from celery import shared_task

from instrumentation import tracing


@shared_task(name="tracing_site.echo_ids")
def echo_ids() -> list[str] | None:
    """The trace and span ids the task runs under (what its log lines would carry)."""
    ids = tracing.current_ids()
    return list(ids) if ids else None
