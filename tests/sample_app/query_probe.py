"""Run inside a subprocess with ``DJANGO_SETTINGS_MODULE=sample_app.settings``: counts the SQL
queries of the list endpoints with Django's ``CaptureQueriesContext``, reads the cached summary and
places one order (eager Celery, or Redis and the broker down, as the environment says), then
writes the findings as JSON to the file named by its argument (read by ``test_queries.py``).

Kept out of the pytest process because pytest-django configures ``tests.settings`` for the whole
session; the sample app needs its own settings.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import django


def main() -> None:
    django.setup()
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from sample_app.shop.models import Order

    client = Client()
    findings: dict[str, object] = {}
    for size in (1, 5, 20):
        for name, path in (
            ("n_plus_one", "/shop/products/n-plus-one/"),
            ("select_related", "/shop/products/"),
        ):
            with CaptureQueriesContext(connection) as ctx:
                response = client.get(f"{path}?size={size}")
            findings[f"{name}:{size}"] = {
                "status": response.status_code,
                "rows": len(response.json()["products"]),
                "sql": [query["sql"] for query in ctx.captured_queries],
            }
    response = client.get("/shop/categories/summary/")
    findings["summary"] = {
        "status_code": response.status_code,
        "x_cache": response.headers.get("X-Cache"),
        "categories": len(response.json()["categories"]),
    }
    started = time.monotonic()
    response = client.post(
        "/shop/orders/",
        data={"items": [{"product_id": 1, "quantity": 1}]},
        content_type="application/json",
    )
    order_id = response.json()["id"]
    findings["order"] = {
        "seconds": time.monotonic() - started,
        "status_code": response.status_code,
        "response_status": response.json()["status"],
        "stored_status": Order.objects.get(pk=order_id).status,
    }
    Path(sys.argv[1]).write_text(json.dumps(findings))


if __name__ == "__main__":
    main()
