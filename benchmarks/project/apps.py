"""The benchmark app: one model, so the ORM view has a table to query."""

from __future__ import annotations

from django.apps import AppConfig


class BenchConfig(AppConfig):
    name = "benchmarks.project"
    label = "bench"
    default_auto_field = "django.db.models.AutoField"
