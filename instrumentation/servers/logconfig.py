"""Logging configurations that make an ASGI server's own lines the same ECS JSON as ours.

Each server names its loggers differently and reads its configuration its own way:

============  =================================  ==========================================
server        its loggers                        how it takes a configuration
============  =================================  ==========================================
uvicorn       ``uvicorn``, ``uvicorn.error``,    ``--log-config FILE.json`` (``dictConfig``),
              ``uvicorn.access``                 or ``uvicorn.run(log_config=dict)``
hypercorn     ``hypercorn.error``,               ``--log-config json:FILE``, or
              ``hypercorn.access``               ``logconfig_dict`` in a ``--config`` module
granian       ``_granian`` (also its Rust core), ``--log-config FILE.json``, merged key by key
              ``granian.access``                 into its own default (so ours is complete)
daphne        the root logger                    none: Django's logging setup covers it
============  =================================  ==========================================

Every line goes through :class:`~instrumentation.logging.pipeline.EcsHandler`, which resolves
the service name from the project's settings when the process has them
(``DJANGO_SETTINGS_MODULE``), otherwise from the ``OTEL_*`` variables. The servers' access
loggers stay below their level unless ``FLEETOBS_SERVER_ACCESS_LOG=1``: the middleware already
writes one access line per request, with the route, the trace id and the user, which the
server's line would repeat without them. The level follows ``FLEETOBS_LOG_LEVEL`` (default
``INFO``), as for gunicorn.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["LOGGERS", "SERVERS", "dict_config", "write_config_file"]

#: The servers this module knows, and their (error, access) logger names.
LOGGERS: dict[str, tuple[str, str]] = {
    "uvicorn": ("uvicorn", "uvicorn.access"),
    "hypercorn": ("hypercorn.error", "hypercorn.access"),
    "granian": ("_granian", "granian.access"),
}
SERVERS = (*LOGGERS, "daphne")
_HANDLER = "instrumentation.logging.pipeline.EcsHandler"
_LEVELS = frozenset({"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"})


def _level() -> str:
    level = str(os.environ.get("FLEETOBS_LOG_LEVEL", "INFO")).upper()
    return level if level in _LEVELS else "INFO"


def dict_config(server: str) -> dict[str, Any]:
    """A complete ``logging.config.dictConfig`` dict for ``server`` (uvicorn, hypercorn, granian).

    Nothing is resolved until a line is written, so it is safe in a server's parent process,
    before Django is set up.
    """
    try:
        error_logger, access_logger = LOGGERS[server]
    except KeyError:
        raise ValueError(f"no logging configuration for {server!r}; known: {', '.join(LOGGERS)}") from None
    level = _level()
    access_level = "INFO" if os.environ.get("FLEETOBS_SERVER_ACCESS_LOG", "0") == "1" else "WARNING"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {},
        "handlers": {"fleetobs": {"class": _HANDLER}},
        "root": {"level": level, "handlers": ["fleetobs"]},
        "loggers": {
            error_logger: {"level": level, "handlers": ["fleetobs"], "propagate": False},
            access_logger: {"level": access_level, "handlers": ["fleetobs"], "propagate": False},
        },
    }


def write_config_file(server: str, directory: str | os.PathLike[str] | None = None) -> Path:
    """Write :func:`dict_config` as JSON and return its path.

    The name carries a digest of the content, so every start with the same settings reuses one
    file instead of leaving a new one behind; it is written to a temporary name and renamed, so
    a server starting at the same moment never reads half a file.
    """
    text = json.dumps(dict_config(server), indent=2, sort_keys=True) + "\n"
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    folder = Path(directory) if directory is not None else Path(tempfile.gettempdir())
    target = folder / f"fleetobs-{server}-logging-{os.getuid()}-{digest}.json"
    if target.is_file() and target.read_text() == text:
        return target
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=folder)
    with os.fdopen(handle, "w") as out:
        out.write(text)
    Path(temporary).replace(target)
    return target
