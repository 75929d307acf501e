"""Background work queued by the web tier: order processing.

Runs on a Celery worker when a broker is configured (``CELERY_BROKER_URL`` or ``REDIS_URL``), or
in the web process itself otherwise (eager mode), so the sample works with no broker at all.
"""

from __future__ import annotations

import logging
from collections import Counter

from celery import shared_task
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from sample_app.shop.models import Order, Product

logger = logging.getLogger(__name__)


@shared_task(name="shop.process_order", acks_late=True)
def process_order(order_id: int) -> str:
    """Reserve stock for a pending order: confirm it, or reject it when an item is short.

    Idempotent: a redelivered task finds the order already processed and does nothing.
    """
    with transaction.atomic():
        order = Order.objects.select_for_update().filter(pk=order_id).first()
        if order is None:
            logger.warning("order %s vanished before processing", order_id)
            return "missing"
        if order.status != Order.Status.PENDING:
            return str(order.status)
        # An order may list a product on several lines: reserve the sum. Locking the product rows
        # in id order keeps concurrent workers from deadlocking on PostgreSQL.
        wanted: Counter[int] = Counter()
        for product_id, quantity in order.items.values_list("product_id", "quantity"):
            wanted[product_id] += quantity
        products = Product.objects.select_for_update().filter(pk__in=wanted).order_by("pk")
        short = [p.name for p in products if p.stock < wanted[p.pk]]
        if short:
            order.status = Order.Status.REJECTED
            order.note = ("out of stock: " + ", ".join(short))[:200]
        else:
            for product_id, quantity in sorted(wanted.items()):
                Product.objects.filter(pk=product_id).update(stock=F("stock") - quantity)
            order.status = Order.Status.CONFIRMED
        order.processed_at = timezone.now()
        order.save(update_fields=["status", "note", "processed_at"])
    logger.info("order %s %s", order_id, order.status)
    return str(order.status)
