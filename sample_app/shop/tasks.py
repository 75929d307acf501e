"""Background work queued by the web tier: order processing.

Runs on a Celery worker when a broker is configured (``CELERY_BROKER_URL`` or ``REDIS_URL``), or
in the web process itself otherwise (eager mode), so the sample works with no broker at all.

An error burst of the fault switch (``error_rate``, see :mod:`sample_app.shop.faults`) also hits
the worker, like an outage of a dependency would: a task chosen to fail is retried a few times
(``MAX_RETRIES``, ``RETRY_DELAY_SECONDS`` apart) and fails for good when every attempt failed.
Eager runs are exempt: they are part of a request, which the burst already covers.
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from typing import Any

from celery import shared_task
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from sample_app.shop import faults
from sample_app.shop.models import Order, Product

logger = logging.getLogger(__name__)

#: Retries of a task hit by an error burst before it fails, and the delay between attempts.
MAX_RETRIES = 2
RETRY_DELAY_SECONDS = 1.0


def _injected_fault(task: Any) -> bool:
    """Whether an error burst makes this (worker) run fail."""
    if task.request.is_eager:
        return False
    rate = faults.current().error_rate
    return rate > 0 and random.random() < rate


@shared_task(
    name="shop.process_order",
    bind=True,
    acks_late=True,
    max_retries=MAX_RETRIES,
    default_retry_delay=RETRY_DELAY_SECONDS,
)
def process_order(self: Any, order_id: int) -> str:
    """Reserve stock for a pending order: confirm it, or reject it when an item is short.

    Idempotent: a redelivered task finds the order already processed and does nothing.
    """
    if _injected_fault(self):
        # Past MAX_RETRIES, retry() raises the error itself and the task fails.
        raise self.retry(exc=faults.InjectedFaultError("injected error burst in order processing"))
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
