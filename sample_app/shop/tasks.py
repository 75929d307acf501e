"""Background work queued by the web tier: order processing.

Runs on a Celery worker when a broker is configured (``CELERY_BROKER_URL`` or ``REDIS_URL``), or
in the web process itself otherwise (eager mode), so the sample works with no broker at all.
"""

from __future__ import annotations

import logging

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
        items = list(order.items.select_related("product").order_by("product_id"))
        short = [item.product.name for item in items if item.product.stock < item.quantity]
        if short:
            order.status = Order.Status.REJECTED
            order.note = ("out of stock: " + ", ".join(short))[:200]
        else:
            for item in items:
                Product.objects.filter(pk=item.product_id).update(stock=F("stock") - item.quantity)
            order.status = Order.Status.CONFIRMED
        order.processed_at = timezone.now()
        order.save(update_fields=["status", "note", "processed_at"])
    logger.info("order %s %s", order_id, order.status)
    return str(order.status)
