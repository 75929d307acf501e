"""App configuration: loads the Celery app so ``shared_task`` binds to it in every process."""

from __future__ import annotations

from django.apps import AppConfig


class ShopConfig(AppConfig):
    name = "sample_app.shop"
    label = "shop"
    verbose_name = "Shop"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from sample_app import celery  # noqa: F401 - creating the app makes it the current one
