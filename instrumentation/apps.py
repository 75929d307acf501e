"""The Django app: wires every signal from the settings when Django is ready."""

from __future__ import annotations

from django.apps import AppConfig


class FleetObservabilityConfig(AppConfig):
    name = "instrumentation"
    label = "fleet_observability"
    verbose_name = "Fleet Observability"
    default = True

    def ready(self) -> None:
        from instrumentation import bootstrap, checks, conf

        conf.connect_signals()
        checks.register()
        bootstrap.start()
