"""The package's layers: which parts of ``webui`` may import which, and no import cycles.

Every module under ``webui/`` is read with ``ast`` (nothing is imported), so an import inside a
function counts as much as one at the top of the file. A module's imports are the ``webui``
modules it names: ``from webui.engine import images`` names ``webui.engine.images`` (a module),
``from webui.engine import run_txt2img`` names ``webui.engine`` (the package), relative imports are
resolved the same way.

Layers, low to high::

    errors, choices, imaging, metadata      formats and plain data; they know no request or engine
    config, request                         the one request type and its validation
    models, engine                          the GPU side; never the UI, the APIs or the history
    history, queue, jobs, ui, api, app      the doors and the records
    server                                  serving: imports the doors to build the app; only
                                            launch.py, tests and webui.testing import it
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# importer (a module or a package, with what is below it) -> what it must never import
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "webui.engine": ("webui.ui", "webui.api", "webui.history"),
    "webui.models": ("webui.ui", "webui.api", "webui.history"),
    # training is a job like generation: the tab and the API call it, never the reverse
    "webui.training": ("webui.ui", "webui.api", "webui.server"),
    # upscalers are models the engine runs: the Extras tab and the API call them
    "webui.upscaling": ("webui.ui", "webui.api", "webui.history", "webui.server",
                        "webui.engine", "webui.models"),
    "webui.metadata": ("webui.engine", "webui.models", "webui.ui", "webui.api", "webui.history"),
    # the low homes that broke the request <-> engine.images cycle import neither side
    "webui.errors": ("webui",),
    "webui.choices": ("webui",),
    "webui.imaging": ("webui.request", "webui.engine", "webui.models", "webui.ui", "webui.api",
                      "webui.history", "webui.metadata"),
    "webui.request": ("webui.engine", "webui.models", "webui.ui", "webui.api", "webui.history"),
    # watermark, provenance labels and the output filter: what every door's saving calls
    "webui.provenance": ("webui.engine", "webui.models", "webui.ui", "webui.api",
                         "webui.history", "webui.server", "webui.upscaling"),
    "webui.safety": ("webui.engine", "webui.models", "webui.ui", "webui.api",
                     "webui.history", "webui.server", "webui.upscaling"),
}

# package -> the only parts of webui that may import it (launch.py and tests are outside webui)
ONLY_IMPORTED_BY: dict[str, tuple[str, ...]] = {
    # the UI, the APIs and the app context are what the server assembles, never the reverse
    "webui.server": ("webui.testing",),
}

# Imports that break a rule today, each with the item that removes it. The test fails when one of
# them is gone, so that this list only shrinks.
KNOWN_VIOLATIONS: dict[tuple[str, str], str] = {}


def _within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def module_files(root: Path, package: str = "webui") -> dict[str, tuple[Path, bool]]:
    """``{module name: (file, is a package)}`` for every ``.py`` file under ``root/package``."""
    modules = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        modules[".".join(parts)] = (path, is_package)
    return modules


def import_graph(root: Path, package: str = "webui") -> dict[str, set[str]]:
    """``{module: {modules of the package it imports}}``, top-level and function-level alike."""
    modules = module_files(root, package)

    def known(name: str) -> str | None:
        """``name`` if it is a module, else the nearest package or module above it."""
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for module, (path, is_package) in modules.items():
        imported: set[str | None] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                imported.update(known(alias.name) for alias in node.names
                                if _within(alias.name, package))
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = module.split(".") if is_package else module.split(".")[:-1]
                    base = base[:len(base) - (node.level - 1)]
                    source = ".".join(base + ([node.module] if node.module else []))
                else:
                    source = node.module or ""
                if not _within(source, package):
                    continue
                for alias in node.names:
                    submodule = f"{source}.{alias.name}"
                    imported.add(submodule if submodule in modules else known(source))
        graph[module] = {name for name in imported if name and name != module}
    return graph


def layer_violations(graph: dict[str, set[str]],
                     forbidden: dict[str, tuple[str, ...]] = FORBIDDEN,
                     known: dict[tuple[str, str], str] | None = None,
                     only_imported_by: dict[str, tuple[str, ...]] = ONLY_IMPORTED_BY) -> list[str]:
    """One line per import that crosses a layer the wrong way, except those in ``known``."""
    found = []
    for module in sorted(graph):
        for target in sorted(graph[module]):
            if (module, target) in (known or {}):
                continue
            for layer, banned in forbidden.items():
                if (_within(module, layer) and not _within(target, layer)
                        and any(_within(target, b) for b in banned)):
                    found.append(f"{module} imports {target} ({layer} must not import "
                                 f"{', '.join(banned)})")
            for package, importers in only_imported_by.items():
                if (_within(target, package) and not _within(module, package)
                        and not any(_within(module, i) for i in importers)):
                    found.append(f"{module} imports {target} (only {', '.join(importers)} "
                                 f"may import {package})")
    return found


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (``[a, b, ..., a]``) per group of modules that import each other."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def visit(start: str) -> None:  # Tarjan's strongly connected components, without recursion
        work = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.add(member)
                    if member == node:
                        break
                if len(group) > 1:
                    groups.append(group)

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return [_cycle_in(group, graph) for group in groups]


def _cycle_in(group: set[str], graph: dict[str, set[str]]) -> list[str]:
    """A shortest cycle through the first module of ``group`` (breadth-first, inside the group)."""
    start = min(group)
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for child in sorted(graph[node] & group):
            if child == start:
                return paths[node] + [start]
            if child not in paths:
                paths[child] = paths[node] + [child]
                queue.append(child)
    raise AssertionError(f"no cycle through {start} in {sorted(group)}")  # pragma: no cover


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph(ROOT)


def test_the_graph_is_read(graph):
    """Guard against a check that passes because it read nothing."""
    assert len(graph) > 50
    assert "webui.metadata.infotext" in graph["webui.engine.core"]
    assert "webui.imaging" in graph["webui.request"]  # a top-level import
    assert "webui.api.security" in graph["webui.app"]  # one inside a function
    assert "webui.ui.layout" in graph["webui.server.assembly"]


def test_layers_are_respected(graph):
    violations = layer_violations(graph, known=KNOWN_VIOLATIONS)
    assert not violations, "imports that cross a layer the wrong way:\n" + "\n".join(violations)


def test_known_violations_still_exist(graph):
    """An entry whose import is gone must leave KNOWN_VIOLATIONS (the rule then holds for it)."""
    gone = [f"{module} -> {target}" for module, target in KNOWN_VIOLATIONS
            if target not in graph.get(module, set())]
    assert not gone, "fixed, remove from KNOWN_VIOLATIONS: " + ", ".join(gone)


def test_no_import_cycles(graph):
    cycles = import_cycles(graph)
    assert not cycles, "import cycles among webui modules:\n" + "\n".join(
        " -> ".join(cycle) for cycle in cycles)


def test_the_checks_catch_planted_bad_imports(tmp_path):
    """A throwaway package with forbidden imports (one inside a function, one of the server by
    the UI) and a three-module cycle."""
    files = {
        "__init__.py": "",
        "engine/__init__.py": "",
        "engine/core.py": "def run():\n    from webui.history import store\n",
        "history/__init__.py": "",
        "history/store.py": "",
        "metadata/__init__.py": "",
        "metadata/read.py": "from ..models import loader\n",
        "models/__init__.py": "",
        "models/loader.py": "",
        "server/__init__.py": "",
        "server/assembly.py": "from webui.ui import layout\n",
        "ui/__init__.py": "",
        "ui/layout.py": "",
        "ui/tab.py": "def build():\n    from webui.server.assembly import gradio_app_of\n",
        "a.py": "import webui.b\n",
        "b.py": "from webui import c\n",
        "c.py": "from .a import thing\n",
    }
    for name, text in files.items():
        path = tmp_path / "webui" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    planted = import_graph(tmp_path)
    assert layer_violations(planted) == [
        "webui.engine.core imports webui.history.store (webui.engine must not import "
        "webui.ui, webui.api, webui.history)",
        "webui.metadata.read imports webui.models.loader (webui.metadata must not import "
        "webui.engine, webui.models, webui.ui, webui.api, webui.history)",
        "webui.ui.tab imports webui.server.assembly (only webui.testing may import "
        "webui.server)",
    ]
    assert import_cycles(planted) == [["webui.a", "webui.b", "webui.c", "webui.a"]]
