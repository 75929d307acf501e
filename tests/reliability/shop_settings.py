"""The sample shop's settings, tuned for fault tests, plus one test-only route.

Everything of ``sample_app.settings`` is kept. Two additions:

* ``FLEET_OBSERVABILITY`` is merged with the JSON in ``RELIABILITY_FLEETOBS``, so a test can
  shrink queue bounds and timeouts (a 3-second outage must be able to fill a queue) without a
  settings module per case;
* ``ROOT_URLCONF`` adds ``reliability/boom/``, a view that fails with a secret in its exception
  message, to check that exception messages are redacted in logs and spans.
"""

from __future__ import annotations

import json
import os

from sample_app.settings import *  # noqa: F403 - this module extends the sample shop's settings
from sample_app.settings import FLEET_OBSERVABILITY as _BASE

FLEET_OBSERVABILITY = {**_BASE, **json.loads(os.environ.get("RELIABILITY_FLEETOBS") or "{}")}
ROOT_URLCONF = "tests.reliability.urls"
