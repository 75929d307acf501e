"""Optional instrumentations: outgoing HTTP clients and template rendering.

Outgoing HTTP uses the OpenTelemetry contrib packages, when installed:
``opentelemetry-instrumentation-requests``, ``-httpx`` and ``-urllib3``. They are optional
extras: a missing package is skipped without a word; one that is installed but fails to
instrument is logged once. They are given our tracer provider, so their CLIENT spans are
children of the request span and share its export queue, and they inject ``traceparent`` into
the outgoing request. Our own export thread suppresses them, so exporting is never traced.

Template rendering is off by default (``TRACE_TEMPLATES``): nested includes multiply into noise
spans. When on, ``django.template.base.Template.render`` is wrapped to make an INTERNAL child
span per rendered template (only when the request is being recorded).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from typing import Any

from opentelemetry.trace import SpanKind, TracerProvider

from instrumentation._safety import internal_error
from instrumentation.conf import Settings

logger = logging.getLogger("fleetobs.tracing")

#: (module, instrumentor class) of the contrib instrumentations we enable when installed.
HTTP_CLIENTS = (
    ("opentelemetry.instrumentation.requests", "RequestsInstrumentor"),
    ("opentelemetry.instrumentation.httpx", "HTTPXClientInstrumentor"),
    ("opentelemetry.instrumentation.urllib3", "URLLib3Instrumentor"),
)


#: How the template patch starts and ends its spans (``start_span``, ``end_span``):
#: :mod:`instrumentation.tracing`, which sits above this module, hands them over when imported.
_spans: tuple[Callable[..., Any], Callable[..., None]] | None = None


def use_spans(start: Callable[..., Any], end: Callable[..., None]) -> None:
    """The functions the template patch starts and ends its spans with."""
    global _spans
    _spans = (start, end)


class _TemplatePatch:
    """Wraps ``Template.render`` while installed; :meth:`uninstrument` restores it."""

    def __init__(self) -> None:
        from django.template.base import Template

        self._original = Template.render
        original = self._original

        def render(template: Any, context: Any) -> Any:
            spans = _spans
            if spans is None:
                return original(template, context)
            start_span, end_span = spans
            try:
                name = str(getattr(template, "name", None) or "")
                handle = start_span(
                    f"render {name or 'template'}",
                    {"code.function": "render", "template.name": name},
                    kind=SpanKind.INTERNAL,
                )
            except Exception as exc:  # noqa: BLE001 - the page renders whatever tracing does
                internal_error(exc, "templates.span")
                handle = None
            if handle is None:
                return original(template, context)
            error: BaseException | None = None
            try:
                return original(template, context)
            except BaseException as exc:
                error = exc
                raise
            finally:
                end_span(handle, error)

        render.__wrapped__ = original  # type: ignore[attr-defined]
        Template.render = render  # type: ignore[method-assign,assignment]

    def uninstrument(self) -> None:
        from django.template.base import Template

        Template.render = self._original  # type: ignore[method-assign]


def instrument(provider: TracerProvider, settings: Settings) -> list[Any]:
    """Enable what is installed and asked for; return handles for :func:`uninstrument`."""
    done: list[Any] = []
    for module_name, class_name in HTTP_CLIENTS:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        try:
            instrumentor = getattr(module, class_name)()
            if not instrumentor.is_instrumented_by_opentelemetry:
                instrumentor.instrument(tracer_provider=provider)
                done.append(instrumentor)
        except Exception:
            logger.exception("fleetobs: could not enable %s", class_name)
    if settings.trace_templates:
        try:
            done.append(_TemplatePatch())
        except Exception:
            logger.exception("fleetobs: could not trace template rendering")
    return done


def uninstrument(handles: list[Any]) -> None:
    for handle in reversed(handles):
        try:
            handle.uninstrument()
        except Exception:
            logger.debug("fleetobs: uninstrument failed", exc_info=True)
