"""The measured views: a trivial one, and one doing five ORM queries and a cache get."""

from __future__ import annotations

from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, JsonResponse

SEED_ITEMS = 20


def trivial(request: HttpRequest, pk: int = 0) -> HttpResponse:
    return HttpResponse(b"ok", content_type="text/plain")


def orm(request: HttpRequest) -> JsonResponse:
    from benchmarks.project.models import Item

    count = Item.objects.count()
    cheap = list(Item.objects.filter(price__lte=5).values_list("name", flat=True))
    exists = Item.objects.filter(name="item-3").exists()
    first = Item.objects.get(pk=1)
    latest = [item.name for item in Item.objects.order_by("-pk")[:3]]
    cached = cache.get("bench:banner")
    return JsonResponse(
        {"count": count, "cheap": cheap, "exists": exists, "first": first.name, "latest": latest, "c": cached}
    )


def seed() -> None:
    """Create the tables and rows (the database is SQLite in memory, one per process)."""
    from django.core.management import call_command

    from benchmarks.project.models import Item

    call_command("migrate", run_syncdb=True, verbosity=0)
    Item.objects.bulk_create(Item(name=f"item-{i}", price=i) for i in range(1, SEED_ITEMS + 1))
    cache.set("bench:banner", "hello", None)
