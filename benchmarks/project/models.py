"""The table the ORM view reads."""

from __future__ import annotations

from django.db import models


class Item(models.Model):
    name = models.CharField(max_length=64)
    price = models.IntegerField(default=0)

    # Django's own default manager, declared so the type checker knows it (the plugin is not
    # given this app).
    objects: models.Manager[Item] = models.Manager()

    def __str__(self) -> str:
        return self.name
