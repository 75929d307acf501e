#!/usr/bin/env python
"""Django's command-line utility for the sample shop (same as ``python -m sample_app``)."""

from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__":
    # Run as a script, Python puts this directory first on sys.path, where sample_app/celery.py
    # would shadow the celery package. Put the package's parent there instead.
    here = Path(__file__).resolve().parent
    sys.path = [p for p in sys.path if Path(p or ".").resolve() != here]
    sys.path.insert(0, str(here.parent))
    from sample_app.__main__ import main

    main()
