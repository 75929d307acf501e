#!/usr/bin/env python
"""Django's command-line utility for the sample shop (same as ``python -m sample_app``)."""

from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__":
    # Run as a script, this directory is on sys.path but the package's parent is not.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from sample_app.__main__ import main

    main()
