from __future__ import annotations

import pytest
from django.test import Client

from instrumentation.testing import get_sample_value


@pytest.mark.django_db
def test_request_is_counted() -> None:
    client = Client()
    assert client.get("/items/3/").status_code == 200
    assert (
        get_sample_value(
            "http_server_request_duration_seconds_count",
            {
                "http_request_method": "GET",
                "http_route": "items/<int:pk>/",
                "http_response_status_code": "200",
            },
        )
        == 1.0
    )
