"""The table the ORM view reads."""

from __future__ import annotations

from django.db import models


class Item(models.Model):
    name = models.CharField(max_length=64)
    price = models.IntegerField(default=0)

    def __str__(self) -> str:
        return self.name
