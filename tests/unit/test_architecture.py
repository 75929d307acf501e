"""The layers inside ``instrumentation/`` (docs/architecture.md), enforced on every import.

Every module belongs to one layer; a module imports only from its own layer or those below.
The three signals are stacked (metrics, then tracing, then logging: a log line carries the trace
ids, and the tracing and logging pipelines count their drops as metrics); a signal uses a lower
one only through its package (``instrumentation.metrics``), never its internal modules. There is
no cycle among the modules, counting the imports inside functions too, and an import inside a
function is allowed only where a listed reason says why it cannot be at the top.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "instrumentation"

#: Layers, bottom to top; a module's layer is that of its longest listed prefix.
LAYERS: dict[str, int] = {
    # 0. Settings, catalogue and what every layer needs: no knowledge of any signal.
    "instrumentation": 0,  # the package itself: its version
    "instrumentation.catalog": 0,
    "instrumentation.conf": 0,
    "instrumentation.lifecycle": 0,
    "instrumentation._safety": 0,
    "instrumentation._imports": 0,
    "instrumentation._process": 0,
    "instrumentation._headers": 0,
    "instrumentation.sql_literals": 0,
    # 1. Primitives shared by the signals: redaction, request facts, response bodies, routes.
    "instrumentation.redaction": 1,
    "instrumentation._request": 1,
    "instrumentation._body": 1,
    "instrumentation.routes": 1,
    "instrumentation.metrics_access": 1,
    # 2-4. The signals.
    "instrumentation.metrics": 2,
    "instrumentation.tracing": 3,
    "instrumentation.logging": 4,
    # 5. Integrations: Django, databases, caches, Celery, Channels, servers, commands.
    "instrumentation.middleware": 5,
    "instrumentation.db": 5,
    "instrumentation.cache": 5,
    "instrumentation.celery": 5,
    "instrumentation.channels": 5,
    "instrumentation.celery_worker": 5,
    "instrumentation.pending_migrations": 5,
    "instrumentation.gunicorn": 5,
    "instrumentation.servers": 5,
    "instrumentation.bootstrap": 5,
    "instrumentation.apps": 5,
    "instrumentation.checks": 5,
    "instrumentation.views": 5,
    "instrumentation.urls": 5,
    "instrumentation.testing": 5,
    "instrumentation.cli": 5,
    "instrumentation.management": 5,
    "instrumentation.wagtail_hooks": 5,
}
SIGNALS = ("instrumentation.metrics", "instrumentation.tracing", "instrumentation.logging")

#: (importing module, imported module) -> why the import sits inside a function.
FUNCTION_LEVEL = {
    ("instrumentation.apps", "instrumentation.bootstrap"): "Django imports apps.py while it "
    "populates the app registry; the app starts in ready()",
    ("instrumentation.apps", "instrumentation.checks"): "idem: checks register in ready()",
    ("instrumentation.apps", "instrumentation.conf"): "idem",
}
#: Modules that run in a server's master or launcher process before the application is loaded:
#: they import a signal only in the hook that uses it, after they have set up the environment it
#: reads (PROMETHEUS_MULTIPROC_DIR, the service's settings module), and the master that forks
#: workers holds no more than it uses.
PRE_APPLICATION = ("instrumentation.gunicorn", "instrumentation.servers.launch")


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _resolve(name: str) -> str | None:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _layer(module: str) -> int:
    best = max((prefix for prefix in LAYERS if module == prefix or module.startswith(prefix + ".")), key=len)
    return LAYERS[best]


def _signal(module: str) -> str | None:
    return next((s for s in SIGNALS if module == s or module.startswith(s + ".")), None)


class _Imports(ast.NodeVisitor):
    """Project imports of one module: (target, line, inside a function)."""

    def __init__(self, module: str, is_package: bool) -> None:
        self.module = module
        self.is_package = is_package
        self.depth = 0
        self.found: list[tuple[str, int, bool]] = []

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._function(node)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self._function(node)

    def visit_If(self, node: ast.If) -> None:
        test = node.test
        if (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
            isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
        ):
            self.generic_visit(ast.Module(body=node.orelse, type_ignores=[]))
            return
        self.generic_visit(node)

    def _add(self, name: str, line: int) -> None:
        if name.split(".", maxsplit=1)[0] != "instrumentation":
            return
        target = _resolve(name)
        if target is not None and target != self.module:
            self.found.append((target, line, self.depth > 0))

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name, node.lineno)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = node.module or ""
        if node.level:
            parts = self.module.split(".") if self.is_package else self.module.split(".")[:-1]
            parts = parts[: len(parts) - (node.level - 1)]
            base = ".".join([*parts, base] if base else parts)
        for alias in node.names:
            full = f"{base}.{alias.name}"
            self._add(full if full in MODULES else base, node.lineno)


def _imports() -> dict[str, list[tuple[str, int, bool]]]:
    result = {}
    for module, path in MODULES.items():
        visitor = _Imports(module, path.name == "__init__.py")
        visitor.visit(ast.parse(path.read_text(encoding="utf-8")))
        result[module] = visitor.found
    return result


IMPORTS = _imports()


def test_every_module_has_a_layer() -> None:
    assert all(any(m == p or m.startswith(p + ".") for p in LAYERS) for m in MODULES), [
        m for m in MODULES if not any(m == p or m.startswith(p + ".") for p in LAYERS)
    ]


def _upward(imports: dict[str, list[tuple[str, int, bool]]]) -> list[str]:
    return [
        f"{module}:{line} imports {target} (layer {_layer(target)} above {_layer(module)})"
        for module, imports_of_module in imports.items()
        for target, line, _ in imports_of_module
        if _layer(target) > _layer(module)
    ]


def test_imports_go_down_the_layers() -> None:
    assert _upward(IMPORTS) == []


def _with_added(module: str, source: str) -> dict[str, list[tuple[str, int, bool]]]:
    """The project's imports with ``source`` added to ``module`` (as if someone wrote it there)."""
    visitor = _Imports(module, MODULES[module].name == "__init__.py")
    visitor.visit(ast.parse(source))
    return {**IMPORTS, module: [*IMPORTS[module], *visitor.found]}


def test_a_back_import_added_anywhere_is_caught() -> None:
    # Hidden in a function, as the cycles this test was written against were.
    added = _with_added(
        "instrumentation.conf", "def f():\n    from instrumentation.logging import pipeline\n"
    )
    assert _upward(added) == [
        "instrumentation.conf:2 imports instrumentation.logging.pipeline (layer 4 above 0)"
    ]
    assert _cycles(
        _with_added("instrumentation.metrics.registry", "import instrumentation.metrics.http\n")
    ) == [["instrumentation.metrics.http", "instrumentation.metrics.registry"]]


def test_a_signal_uses_another_only_through_its_package() -> None:
    internal = [
        f"{module}:{line} imports {target}"
        for module, imports in IMPORTS.items()
        for target, line, _ in imports
        if (mine := _signal(module)) is not None
        and (theirs := _signal(target)) is not None
        and mine != theirs
        and target != theirs
    ]
    assert internal == []


def test_no_import_cycles_even_through_functions() -> None:
    assert _cycles(IMPORTS) == []


def _cycles(imports_by_module: dict[str, list[tuple[str, int, bool]]]) -> list[list[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for module, imports in imports_by_module.items():
        for target, _, _ in imports:
            # A package importing its own submodules is how a package is built, not a cycle.
            if not target.startswith(module + "."):
                graph[module].add(target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in sorted(MODULES):
        if module not in index:
            visit(module)
    return cycles


def test_imports_inside_functions_have_a_reason() -> None:
    unexplained = [
        f"{module}:{line} imports {target} inside a function"
        for module, imports in IMPORTS.items()
        for target, line, inside in imports
        if inside and (module, target) not in FUNCTION_LEVEL and module not in PRE_APPLICATION
    ]
    assert unexplained == []


@pytest.mark.parametrize("module", PRE_APPLICATION)
def test_the_pre_application_modules_exist(module: str) -> None:
    assert module in MODULES


def test_the_sampler_names_the_settings_accept_are_those_tracing_knows() -> None:
    from instrumentation.conf import SAMPLERS
    from instrumentation.tracing.sampling import KNOWN

    assert set(KNOWN) == SAMPLERS


def test_no_module_imports_the_package_it_belongs_to() -> None:
    """A package's ``__init__`` imports its modules; a module importing it back would see it half
    built (the root package, which holds only the version, excepted)."""
    back = [
        f"{module}:{line} imports {target}"
        for module, imports in IMPORTS.items()
        for target, line, _ in imports
        if target != "instrumentation" and module.startswith(target + ".")
    ]
    assert back == []
