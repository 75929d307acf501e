"""The demo account created by ``seed`` and used by the load generators (no Django imports)."""

from __future__ import annotations

import os

DEMO_USERNAME = "demo"
DEMO_PASSWORD_ENV = "SHOP_DEMO_PASSWORD"  # noqa: S105 - a variable name, not a secret
DEFAULT_DEMO_PASSWORD = "demo-shop-password"  # noqa: S105 - documented demo credential


def demo_password() -> str:
    """``SHOP_DEMO_PASSWORD``, or the documented default."""
    return os.environ.get(DEMO_PASSWORD_ENV) or DEFAULT_DEMO_PASSWORD
