"""Sampling: the keep-or-drop decision for a new trace, made once at its root.

The standard ``OTEL_TRACES_SAMPLER`` names are accepted (``always_on``, ``always_off``,
``traceidratio``, ``parentbased_always_on``, ``parentbased_always_off``,
``parentbased_traceidratio``; the default is ``parentbased_traceidratio`` with
``TRACES_SAMPLER_ARG`` as the ratio). A :class:`SamplerConfig` is two numbers, so the request
path decides with one comparison instead of calling the SDK's sampler objects; the decision is
the same the SDK makes (the lower 64 bits of the trace id against ``ratio * 2**64``), so spans
started through the SDK tracer (outgoing HTTP instrumentations, user code) agree with ours.
Parent-based samplers follow the parent's ``sampled`` flag, local or remote.

Sampling only thins traces: metrics and logs see every request whatever is decided here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from opentelemetry.sdk.trace import sampling as sdk_sampling
from opentelemetry.trace import SpanContext

logger = logging.getLogger("fleetobs.tracing")

_LIMIT = (1 << 64) - 1
DEFAULT = "parentbased_traceidratio"
#: Sampler name (each of :data:`instrumentation.conf.SAMPLERS`) -> (parent based, uses the ratio
#: argument, fixed ratio when it does not).
KNOWN: dict[str, tuple[bool, bool, float]] = {
    "always_on": (False, False, 1.0),
    "always_off": (False, False, 0.0),
    "traceidratio": (False, True, 1.0),
    "parentbased_always_on": (True, False, 1.0),
    "parentbased_always_off": (True, False, 0.0),
    "parentbased_traceidratio": (True, True, 1.0),
}


def bound_for(ratio: float) -> int:
    """The SDK's bound: keep a root whose lower 64 trace-id bits are below it (``ratio``: from 0
    to 1, as :func:`from_settings` makes it)."""
    return round(ratio * (_LIMIT + 1))


@dataclass(frozen=True, slots=True)
class SamplerConfig:
    """One of the standard samplers, reduced to what a decision needs (made by
    :func:`from_settings`, ``ratio`` from 0 to 1)."""

    name: str
    parent_based: bool
    ratio: float

    @property
    def bound(self) -> int:
        return bound_for(self.ratio)

    def sdk_sampler(self) -> sdk_sampling.Sampler:
        """The equivalent SDK sampler, for spans started through the SDK tracer."""
        root: sdk_sampling.Sampler
        if self.ratio >= 1.0:
            root = sdk_sampling.ALWAYS_ON
        elif self.ratio <= 0.0:
            root = sdk_sampling.ALWAYS_OFF
        else:
            root = sdk_sampling.TraceIdRatioBased(self.ratio)
        return sdk_sampling.ParentBased(root) if self.parent_based else root


class Decider:
    """Hot-path form of a :class:`SamplerConfig`: ``decide(trace_id, parent) -> sampled``."""

    __slots__ = ("_bound", "_parent_based")

    def __init__(self, config: SamplerConfig) -> None:
        self._bound = config.bound
        self._parent_based = config.parent_based

    def decide(self, trace_id: int, parent: SpanContext | None) -> bool:
        if parent is not None and self._parent_based:
            return bool(parent.trace_flags & 1)
        return (trace_id & _LIMIT) < self._bound


def from_settings(name: str, arg: float) -> SamplerConfig:
    """Build the sampler named ``name`` (an ``OTEL_TRACES_SAMPLER`` value) with ratio ``arg``.

    The one place the ratio is brought within 0 and 1: a value outside is reported by the
    settings' system check (``fleetobs.E003``) and meanwhile clamped (NaN counts as 1)."""
    key = (name or DEFAULT).strip().lower()
    if key not in KNOWN:
        logger.warning("fleetobs: unknown traces sampler %r, using %s", name, DEFAULT)
        key = DEFAULT
    parent_based, uses_arg, fixed = KNOWN[key]
    ratio = max(0.0, min(1.0, float(arg))) if uses_arg else fixed
    return SamplerConfig(key, parent_based, ratio)
