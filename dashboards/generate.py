"""Render every dashboard and the provisioning files, byte for byte reproducibly.

:func:`dashboards` returns the finalized JSON data of each dashboard keyed by file name;
:func:`render` serialises any of it the same way every time (sorted keys, two-space indent,
trailing newline), and :func:`write` puts the files in a directory. Nothing depends on the clock,
the environment or dictionary order, so generating twice gives identical bytes and the committed
copies under ``compose/grafana/`` can be compared with a fresh generation.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from grafanalib import core as gl

from dashboards import database, logs, overview, postprocess, provisioning, resources, service, tasks

#: Every dashboard module, in the order they are listed in documentation.
MODULES = (overview, service, resources, database, tasks, logs)


def _builders() -> dict[str, Callable[[], gl.Dashboard]]:
    return {f"{module.UID}.json": module.build for module in MODULES}


def dashboards() -> dict[str, dict[str, Any]]:
    """File name -> finalized dashboard JSON data, for every dashboard."""
    return {name: postprocess.finalize(build()) for name, build in sorted(_builders().items())}


def render(data: Any) -> str:
    """Deterministic JSON text."""
    return json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def write(out: Path, provisioning_dir: Path | None = None) -> list[Path]:
    """Write the dashboards to ``out`` (and the provisioning files under ``provisioning_dir``)."""
    written = []
    out.mkdir(parents=True, exist_ok=True)
    for name, data in dashboards().items():
        path = out / name
        path.write_text(render(data), encoding="utf-8")
        written.append(path)
    if provisioning_dir is not None:
        for relative, text in provisioning.files().items():
            path = provisioning_dir / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            written.append(path)
    return written
