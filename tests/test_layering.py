"""The package's layers, declared once and checked on every import statement.

Data flow one way (README, "Description of the code"): a module may import from its own layer
and the layers below it, never from a layer above. Imports inside functions count too, so a
deferred import cannot hide an upward dependency. The module graph must also be acyclic.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "cbec"

#: Rank of every layer, lowest first. A module of rank r imports only ranks <= r.
LAYERS: dict[str, int] = {
    "spec": 0,
    "audit": 0,
    "testing": 0,
    "data": 1,
    "text": 1,
    "study": 2,
    "estimators": 3,
    "analyses": 4,
    "outputs": 5,
    "book": 6,
    "__main__": 7,
}


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _layer(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "cbec":
        return None
    return parts[1] if len(parts) > 1 else None


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("cbec")]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "cbec":
                # "from cbec import spec" imports a submodule; "from cbec import Spec" the root
                found += [(node.lineno, f"cbec.{a.name}") for a in node.names]
            elif node.module.startswith("cbec."):
                found.append((node.lineno, node.module))
    return found


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def test_every_subpackage_has_a_declared_layer() -> None:
    for name in _modules():
        layer = _layer(name)
        if layer is None:
            continue
        assert layer in LAYERS, f"{name}: layer {layer!r} is not declared in LAYERS"


def test_imports_point_down_the_layers() -> None:
    problems = []
    for name, path in _modules().items():
        own = _layer(name)
        if own is None:
            continue
        for line, target in _imports(path):
            layer = _layer(target)
            if layer is None or layer not in LAYERS:
                continue  # the package root re-exports spec and the panel only
            if LAYERS[layer] > LAYERS[own]:
                problems.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports {target}")
    assert not problems, "upward imports:\n" + "\n".join(problems)


def test_module_graph_has_no_cycles() -> None:
    mods = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in mods.items():
        deps = set()
        for _, target in _imports(path):
            # resolve "cbec.x.y.Name" to the longest module prefix that exists
            parts = target.split(".")
            while parts and ".".join(parts) not in mods:
                parts.pop()
            if parts and ".".join(parts) != name:
                dep = ".".join(parts)
                if not name.startswith(dep + ".") and dep != "cbec":
                    deps.add(dep)
        graph[name] = deps
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> None:
        state[n] = 1
        stack.append(n)
        for d in graph.get(n, ()):
            if state.get(d) == 1:
                cycle = stack[stack.index(d) :] + [d]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if state.get(d) is None:
                visit(d)
        stack.pop()
        state[n] = 2

    for n in graph:
        if n not in state:
            visit(n)


def test_estimators_draw_nothing() -> None:
    """Estimators return numbers; only outputs import matplotlib."""
    for name, path in _modules().items():
        if _layer(name) in ("data", "study", "estimators", "text", "spec", "audit"):
            src = path.read_text(encoding="utf-8")
            assert "matplotlib" not in src, f"{name} imports matplotlib"
