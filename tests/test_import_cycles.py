"""No import cycle between circles' modules (issue 21): each module's module-level imports of
circles modules, read from its source with ``ast`` (imports inside functions and under
``TYPE_CHECKING`` do not run on import and are not counted)."""

from __future__ import annotations

import ast
from pathlib import Path

import circles

PACKAGE = Path(circles.__file__).parent


def _modules() -> dict[str, Path]:
    mods = {}
    for p in sorted(PACKAGE.rglob("*.py")):
        parts = ("circles", *p.relative_to(PACKAGE).with_suffix("").parts)
        mods[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = p
    return mods


def _imported(module: str, path: Path, node: ast.Import | ast.ImportFrom, mods: dict[str, Path]) -> set[str]:
    if isinstance(node, ast.Import):
        return {a.name for a in node.names if a.name in mods}
    if node.level:
        here = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
        base = ".".join(here[: len(here) - node.level + 1] + ([node.module] if node.module else []))
    else:
        base = node.module or ""
    out = {f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in node.names}
    return {m for m in out if m in mods}


def _module_level_imports(module: str, path: Path, mods: dict[str, Path]) -> set[str]:
    found: set[str] = set()
    todo: list[ast.stmt] = list(ast.parse(path.read_text(encoding="utf-8")).body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found |= _imported(module, path, node, mods)
        elif isinstance(node, ast.If):
            todo.extend(node.orelse if "TYPE_CHECKING" in ast.unparse(node.test) else node.body + node.orelse)
        elif isinstance(node, ast.Try):
            todo.extend(node.body + node.orelse + node.finalbody + [s for h in node.handlers for s in h.body])
        elif isinstance(node, ast.With):
            todo.extend(node.body)
    return found - {module}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` (as the list of its modules, first repeated at the end), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        path.append(m)
        for d in sorted(graph[m]):
            if state.get(d) == 1:
                return path[path.index(d) :] + [d]
            if d not in state and (found := visit(d)) is not None:
                return found
        path.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state and (found := visit(m)) is not None:
            return found
    return None


def test_the_cycle_finder_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_the_import_reader_sees_relative_and_conditional_imports(tmp_path):
    mods = {"circles.x": tmp_path / "x.py", "circles.y": tmp_path / "y.py", "circles.z": tmp_path / "z.py"}
    mods["circles.x"].write_text(
        "from . import y\nfrom typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .z import Z\n"
        "def f():\n    from . import z\n",
        encoding="utf-8",
    )
    assert _module_level_imports("circles.x", mods["circles.x"], mods) == {"circles.y"}


def test_no_import_cycle_between_circles_modules():
    mods = _modules()
    graph = {m: _module_level_imports(m, p, mods) for m, p in mods.items()}
    assert sum(len(d) for d in graph.values()) > 50  # the reader sees the imports at all
    assert "circles.network" in graph["circles.stages"]
    assert _cycle(graph) is None, " -> ".join(_cycle(graph) or [])
