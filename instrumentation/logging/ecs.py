"""Elastic Common Schema shape of a log event: which keys exist, and how they nest.

The pipeline works on a *flat* event (dotted ECS names as keys, ``{"log.level": "info"}``) and
:func:`nest` turns it into the nested objects Elasticsearch and Filebeat expect for ECS
(``{"log": {"level": "info"}}``) just before rendering. Nested output was chosen over dotted
keys because ECS documents are nested in Elasticsearch's ``_source``, Filebeat's
``decode_json_fields`` and Kibana's Discover show them the same either way, and an object key
such as ``http`` can never collide with a leaf key of the same name.

Only names declared in :data:`instrumentation.catalog.LOG_FIELDS` appear at the top level;
anything else the application binds goes under ``labels`` (mapped ``flattened``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from instrumentation import _process
from instrumentation.catalog.log_fields import ECS_VERSION, LOG_FIELDS

__all__ = [
    "CONTAINER_FIELDS",
    "FIELD_NAMES",
    "LEVELS",
    "LEVEL_NUMBERS",
    "StaticFields",
    "nest",
]

#: Every dotted name a line may carry at the top level.
FIELD_NAMES: frozenset[str] = frozenset(f.name for f in LOG_FIELDS)
#: Fields that hold objects of their own (their contents are not individually catalogued).
CONTAINER_FIELDS: frozenset[str] = frozenset(f.name for f in LOG_FIELDS if f.type in {"object", "flattened"})

#: stdlib level number -> ECS ``log.level`` (lower case, as ECS recommends).
LEVELS: dict[int, str] = {10: "debug", 20: "info", 30: "warning", 40: "error", 50: "critical"}
LEVEL_NUMBERS: dict[str, int] = {name: number for number, name in LEVELS.items()} | {
    "warn": 30,
    "exception": 40,
    "fatal": 50,
    "notset": 0,
}


_PATHS: dict[str, tuple[str, ...]] = {}
_PATH_CACHE_LIMIT = 4096


def _path(key: str) -> tuple[str, ...]:
    path = _PATHS.get(key)
    if path is None:
        path = (key,) if not key or key[0] == "@" else tuple(key.split("."))
        if len(_PATHS) < _PATH_CACHE_LIMIT:
            _PATHS[key] = path
    return path


def nest(flat: dict[str, Any]) -> dict[str, Any]:
    """``{"a.b": 1, "a.c": 2, "d": 3}`` -> ``{"a": {"b": 1, "c": 2}, "d": 3}``.

    Lines logged from one place carry the same keys in the same order: for each such *shape*
    a function building the nested event from the values in one expression is made once (as
    ``collections.namedtuple`` and ``dataclasses`` make theirs), about six times faster than
    placing the keys one by one. A shape where one key is an object and a leaf at once
    (``"a"`` and ``"a.b"``), and shapes beyond :data:`_SHAPE_CACHE_LIMIT`, take the general way.
    """
    keys = tuple(flat)
    try:
        build = _SHAPES[keys]
    except KeyError:
        build = _compile_shape(keys)
        if len(_SHAPES) < _SHAPE_CACHE_LIMIT:
            _SHAPES[keys] = build
    if build is None:
        return _nest_each(flat)
    return build(*flat.values())


_Build = Callable[..., dict[str, Any]]
_SHAPE_CACHE_LIMIT = 512
_SHAPES: dict[tuple[str, ...], _Build | None] = {}


def _compile_shape(keys: tuple[str, ...]) -> _Build | None:
    """A function of the values of ``keys`` (in order) returning the nested event, or ``None``."""
    tree: dict[str, Any] = {}
    for index, key in enumerate(keys):
        if not isinstance(key, str):
            return None
        node = tree
        parts = _path(key)
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                return None  # an object where a leaf is: the general way keeps its semantics
            node = child
        if parts[-1] in node:
            return None  # a repeated path, or a leaf where an object is
        node[parts[-1]] = index

    def source(node: dict[str, Any]) -> str:
        items = (
            f"{key!r}: {f'v{value}' if isinstance(value, int) else source(value)}"
            for key, value in node.items()
        )
        return "{" + ", ".join(items) + "}"

    arguments = ", ".join(f"v{index}" for index in range(len(keys)))
    namespace: dict[str, Any] = {}
    # Only reprs of strings and argument names go into the text.
    exec(f"def build({arguments}):\n    return {source(tree)}\n", namespace)  # noqa: S102
    build: _Build = namespace["build"]
    return build


def _nest_each(flat: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    paths = _PATHS
    for key, value in flat.items():
        parts = paths.get(key) or _path(key)
        depth = len(parts)
        if depth == 1:
            out[key] = value
        elif depth == 2:  # most ECS fields: one object, one leaf
            child = out.get(parts[0])
            if not isinstance(child, dict):
                child = out[parts[0]] = {}
            child[parts[1]] = value
        else:
            node = out
            for part in parts[:-1]:
                child = node.get(part)
                if not isinstance(child, dict):
                    child = node[part] = {}
                node = child
            node[parts[-1]] = value
    return out


class StaticFields:
    """Fields that are the same on every line of a process: service, host, process, ECS version.

    Built once per configuration; :meth:`for_current_process` re-reads the pid after a fork.
    """

    __slots__ = ("_pid", "ecs", "flat", "host", "objects", "process", "service")

    def __init__(self, service_name: str, service_version: str, environment: str, host_name: str) -> None:
        self.ecs = {"version": ECS_VERSION}
        self.service = {"name": service_name, "version": service_version, "environment": environment}
        self.host = {"name": host_name}
        self._pid = os.getpid()
        self.process = {"pid": self._pid}
        self.objects = {"ecs": self.ecs, "service": self.service, "host": self.host, "process": self.process}
        self.flat: dict[str, Any] = {
            "ecs.version": ECS_VERSION,
            "service.name": service_name,
            "service.version": service_version,
            "service.environment": environment,
            "host.name": host_name,
            "process.pid": self._pid,
        }

    def add_to(self, event: dict[str, Any]) -> dict[str, Any]:
        """Add the static objects to a nested event (shared, never mutated; merged if present)."""
        if "ecs" not in event and "service" not in event and "host" not in event and "process" not in event:
            event.update(self.objects)  # the usual line: none of them yet
            return event
        for root, value in (
            ("ecs", self.ecs),
            ("service", self.service),
            ("host", self.host),
            ("process", self.process),
        ):
            existing = event.get(root)
            if existing is None:
                event[root] = value
            elif isinstance(existing, dict):
                event[root] = {**value, **existing}
        return event

    def for_current_process(self) -> StaticFields:
        """Refresh the pid when this process is a fork of the one that built the fields."""
        pid = _process.pid()
        if pid != self._pid:
            self._pid = pid
            self.process = {"pid": pid}
            self.objects = {**self.objects, "process": self.process}
            self.flat = {**self.flat, "process.pid": pid}
        return self
