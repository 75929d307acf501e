"""The shop's endpoints. Each one exists to produce a recognisable pattern in the telemetry.

=================================  ===========================================================
``/``                              HTML home page (sets the CSRF cookie for API clients)
``shop/products/``                 product list with its category (``select_related``: 1 query)
``shop/products/<int:pk>/``        one product, its latest reviews and rating summary
``shop/products/n-plus-one/``      the same list done badly: one extra query per product
``shop/categories/summary/``       aggregate over the catalogue, cached (X-Cache: HIT/MISS)
``shop/slow/``                     sleeps ``?delay=`` seconds (default ``SHOP_SLOW_SECONDS``)
``shop/flaky/``                    fails with the switch's ``failure_rate``
``shop/orders/`` (POST)            creates an order and queues its processing (Celery)
``shop/orders/<int:pk>/``          an order's status
``shop/account/``                  the signed-in user's orders (login required)
=================================  ===========================================================
"""

from __future__ import annotations

import json
import logging
import os
import random
import time
from decimal import Decimal
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Avg, Count
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET, require_POST
from kombu.exceptions import OperationalError

from sample_app.shop import faults
from sample_app.shop.models import Category, Order, OrderItem, Product
from sample_app.shop.tasks import process_order

logger = logging.getLogger(__name__)

SUMMARY_CACHE_KEY = "shop:category-summary:v1"
SUMMARY_CACHE_SECONDS = 30
MAX_SLOW_SECONDS = 30.0
MAX_PAGE_SIZE = 100
MAX_ORDER_LINES = 20
MAX_ID = 2**63  # larger ids cannot exist in a bigint column; refuse them before the database does


class UpstreamError(RuntimeError):
    """The (imaginary) payment provider behind ``shop/flaky/`` failed."""


def _int_param(request: HttpRequest, name: str, default: int, low: int, high: int) -> int:
    try:
        value = int(request.GET.get(name, default))
    except (TypeError, ValueError):
        value = default
    return max(low, min(high, value))


def _product_json(product: Product) -> dict[str, Any]:
    return {
        "id": product.pk,
        "name": product.name,
        "slug": product.slug,
        "price": str(product.price),
        "stock": product.stock,
        "category": product.category.name,
    }


@require_GET
@ensure_csrf_cookie
def home(request: HttpRequest) -> HttpResponse:
    categories = Category.objects.all()[:20]
    return render(request, "shop/home.html", {"categories": categories})


@require_GET
def product_list(request: HttpRequest) -> JsonResponse:
    page = _int_param(request, "page", 1, 1, 10_000)
    size = _int_param(request, "size", 20, 1, MAX_PAGE_SIZE)
    start = (page - 1) * size
    products = Product.objects.select_related("category").order_by("id")[start : start + size]
    return JsonResponse({"page": page, "size": size, "products": [_product_json(p) for p in products]})


@require_GET
def product_detail(request: HttpRequest, pk: int) -> JsonResponse:
    product = get_object_or_404(Product.objects.select_related("category"), pk=pk)
    summary = product.reviews.aggregate(count=Count("id"), average=Avg("rating"))
    reviews = [
        {"author": r.author, "rating": r.rating, "body": r.body, "created_at": r.created_at.isoformat()}
        for r in product.reviews.all()[:5]
    ]
    average = summary["average"]
    return JsonResponse(
        {
            **_product_json(product),
            "description": product.description,
            "rating": {"count": summary["count"], "average": round(average, 2) if average else None},
            "reviews": reviews,
        }
    )


@require_GET
def product_list_n_plus_one(request: HttpRequest) -> JsonResponse:
    """Deliberately inefficient: each product's category is fetched with its own query."""
    size = _int_param(request, "size", 20, 1, MAX_PAGE_SIZE)
    products = Product.objects.order_by("id")[:size]  # no select_related, on purpose
    return JsonResponse({"size": size, "products": [_product_json(p) for p in products]})


@require_GET
def category_summary(request: HttpRequest) -> JsonResponse:
    """Served from the cache; computed on a miss. A cache outage degrades to computing every time."""
    try:
        data = cache.get(SUMMARY_CACHE_KEY)
        state = "MISS" if data is None else "HIT"
    except Exception:  # whatever the backend raises, an unreachable cache is a miss
        logger.warning("cache unavailable; computing the category summary", exc_info=True)
        data, state = None, "ERROR"
    if data is None:
        data = _category_summary()
    if state == "MISS":
        try:
            cache.set(SUMMARY_CACHE_KEY, data, timeout=SUMMARY_CACHE_SECONDS)
        except Exception:  # the cache went away between the two calls
            logger.warning("cache unavailable; summary not stored", exc_info=True)
    response = JsonResponse({"categories": data})
    response["X-Cache"] = state
    return response


def _category_summary() -> list[dict[str, Any]]:
    rows = Category.objects.annotate(product_count=Count("products"), average_price=Avg("products__price"))
    return [
        {
            "name": c.name,
            "slug": c.slug,
            "products": c.product_count,
            "average_price": None if c.average_price is None else str(round(Decimal(c.average_price), 2)),
        }
        for c in rows.order_by("name")
    ]


@require_GET
def slow(request: HttpRequest) -> JsonResponse:
    default = float(os.environ.get("SHOP_SLOW_SECONDS", "0.5"))
    try:
        delay = float(request.GET.get("delay", default))
    except ValueError:
        delay = default
    delay = max(0.0, min(MAX_SLOW_SECONDS, delay))
    time.sleep(delay)
    return JsonResponse({"slept": delay})


@require_GET
def flaky(request: HttpRequest) -> JsonResponse:
    rate = faults.current().effective_failure_rate()
    if random.random() < rate:
        raise UpstreamError("payment provider timed out")
    return JsonResponse({"ok": True, "failure_rate": rate})


def _order_lines(payload: Any) -> list[tuple[int, int]]:
    """Validate ``{"items": [{"product_id": 1, "quantity": 2}, ...]}`` into (id, quantity) pairs."""
    if not isinstance(payload, dict) or not isinstance(payload.get("items"), list):
        raise TypeError("expected {'items': [{'product_id': int, 'quantity': int}, ...]}")
    items = payload["items"]
    if not 1 <= len(items) <= MAX_ORDER_LINES:
        raise ValueError(f"an order has 1 to {MAX_ORDER_LINES} lines")
    lines: list[tuple[int, int]] = []
    for item in items:
        if not isinstance(item, dict):
            raise TypeError("each item is an object")
        product_id, quantity = item.get("product_id"), item.get("quantity", 1)
        if type(product_id) is not int or type(quantity) is not int:
            raise TypeError("product_id and quantity must be integers")
        if not 0 < product_id < MAX_ID or not 1 <= quantity <= 100:
            raise ValueError("product_id must be positive and quantity between 1 and 100")
        lines.append((product_id, quantity))
    return lines


def _order_email(payload: dict[str, Any]) -> str:
    """The optional contact address of an order, validated."""
    email = payload.get("email", "")
    if not isinstance(email, str):
        raise TypeError("email must be a string")
    if email:
        try:
            validate_email(email)
        except ValidationError as exc:
            raise ValueError(exc.messages[0]) from exc
    return email


@require_POST
def create_order(request: HttpRequest) -> JsonResponse:
    """Create a pending order and queue its processing once the transaction commits."""
    try:
        payload = json.loads(request.body or b"{}")
        lines = _order_lines(payload)
        email = _order_email(payload)
    except (TypeError, ValueError) as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    products = Product.objects.in_bulk([pid for pid, _ in lines])
    missing = sorted({pid for pid, _ in lines} - set(products))
    if missing:
        return JsonResponse({"error": f"unknown products: {missing}"}, status=400)
    with transaction.atomic():
        order = Order.objects.create(
            user=request.user if request.user.is_authenticated else None,
            email=email,
            total=sum((products[pid].price * qty for pid, qty in lines), Decimal("0")),
        )
        OrderItem.objects.bulk_create(
            OrderItem(order=order, product=products[pid], quantity=qty, unit_price=products[pid].price)
            for pid, qty in lines
        )
        transaction.on_commit(lambda: _queue_processing(order.pk))
    return JsonResponse({"id": order.pk, "status": order.status, "total": str(order.total)}, status=202)


def _queue_processing(order_id: int) -> None:
    """Queue the order's processing; with the broker down the order stays pending, not lost."""
    try:
        process_order.delay(order_id)
    except OperationalError:
        logger.exception("could not queue order %s: the broker is unavailable", order_id)


@require_GET
def order_detail(request: HttpRequest, pk: int) -> JsonResponse:
    order = get_object_or_404(Order, pk=pk)
    return JsonResponse(
        {
            "id": order.pk,
            "status": order.status,
            "total": str(order.total),
            "note": order.note,
            "processed_at": order.processed_at.isoformat() if order.processed_at else None,
        }
    )


@require_GET
@login_required
def account(request: HttpRequest) -> JsonResponse:
    orders = request.user.orders.order_by("-created_at")[:20]  # type: ignore[union-attr]
    return JsonResponse(
        {
            "username": request.user.get_username(),
            "orders": [{"id": o.pk, "status": o.status, "total": str(o.total)} for o in orders],
        }
    )
