"""The module map of docs/architecture.md against the code: layers, private names, cycles,
the one type map. Static (the source's import statements, function-level ones included)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).parents[1]
PACKAGE = ROOT / "pmmlkit"
PMML_TYPES = {"double", "float", "integer", "boolean", "string"}
#: dictionaries keyed by PMML data types that are not type maps, and why
NOT_TYPE_MAPS = {("pmmlkit/scorer/validation.py", "_TYPE_WORDS"): "the words of a message"}


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _imports(name: str, path: Path, modules: dict[str, Path]) -> list[tuple[str, str]]:
    """(imported module, imported name or "") of every runtime import in a module."""
    tree = ast.parse(path.read_text())
    typing_only = {id(node) for block in ast.walk(tree) if isinstance(block, ast.If)
                   and "TYPE_CHECKING" in ast.unparse(block.test)
                   for statement in block.body for node in ast.walk(statement)}
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(max(node.level - 1, 0)):
                base = base.rpartition(".")[0]
            source = (f"{base}.{node.module}" if node.module else base) if node.level else (
                node.module or "")
            if not source.startswith("pmmlkit"):
                continue
            for alias in node.names:
                full = f"{source}.{alias.name}"
                found.append((full, "") if full in modules else (source, alias.name))
        elif isinstance(node, ast.Import):
            found += [(a.name, "") for a in node.names if a.name.startswith("pmmlkit")]
    return found


def _graph() -> tuple[dict[str, Path], dict[str, list[tuple[str, str]]]]:
    modules = _modules()
    return modules, {name: _imports(name, path, modules) for name, path in modules.items()}


def _unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "pmmlkit"


def _layers() -> dict[str, int]:
    text = (ROOT / "docs" / "architecture.md").read_text()
    section = text.split("## Layers", 1)[1].split("\n## ", 1)[0]
    layers: dict[str, int] = {}
    for number, line in re.findall(r"^(\d+)\. (.+)$", section, re.M):
        for unit in re.findall(r"`([\w.]+)`", line):
            assert unit not in layers, f"{unit} is in two layers"
            layers[unit] = int(number)
    return layers


def test_every_import_goes_to_its_own_layer_or_below():
    modules, graph = _graph()
    layers = _layers()
    units = {_unit(m) for m in modules}
    assert units == set(layers), ("modules without a layer in docs/architecture.md, or "
                                  f"layers without a module: {units ^ set(layers)}")
    upward = sorted(f"{m} -> {target}" for m, imports in graph.items() for target, _ in imports
                    if target in modules and layers[_unit(target)] > layers[_unit(m)])
    assert not upward, upward


def _crossing(graph: dict[str, list[tuple[str, str]]]) -> list[str]:
    """Imports of a private module or name from outside the package that owns it."""
    crossing = []
    for module, imports in graph.items():
        for target, name in imports:
            segments = target.split(".")
            for i, segment in enumerate(segments):
                if segment.startswith("_") and not segment.startswith("__"):
                    owner = ".".join(segments[:i])
                    if not (module == owner or module.startswith(owner + ".")):
                        crossing.append(f"{module} -> {target}")
                    break
            if name.startswith("_") and not name.startswith("__"):
                owner = target.rpartition(".")[0]
                if not (module == owner or module.startswith(owner + ".")):
                    crossing.append(f"{module} -> {target}.{name}")
    return crossing


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components of more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return cycles


def test_no_private_module_or_name_is_imported_from_outside_its_package():
    _, graph = _graph()
    assert not _crossing(graph), _crossing(graph)


def test_nothing_imports_in_a_cycle():
    modules, graph = _graph()
    edges = {m: {t for t, _ in imports if t in modules and t != m}
             for m, imports in graph.items()}
    assert not _cycles(edges), _cycles(edges)


def test_the_checks_find_what_they_look_for(tmp_path):
    """The rules above on a made-up module: a cycle and a private import are found."""
    modules = {"pmmlkit.a": tmp_path / "a.py", "pmmlkit.b": tmp_path / "b.py",
               "pmmlkit.c._d": tmp_path / "d.py"}
    modules["pmmlkit.a"].write_text("from pmmlkit.b import x\nfrom pmmlkit.c._d import y\n")
    modules["pmmlkit.b"].write_text("def f():\n    from pmmlkit import a\n")
    modules["pmmlkit.c._d"].write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                                       "    from pmmlkit import a\n")
    assert _imports("pmmlkit.a", modules["pmmlkit.a"], modules) == [("pmmlkit.b", "x"),
                                                                   ("pmmlkit.c._d", "y")]
    assert _imports("pmmlkit.b", modules["pmmlkit.b"], modules) == [("pmmlkit.a", "")]
    assert _imports("pmmlkit.c._d", modules["pmmlkit.c._d"], modules) == []
    graph = {m: _imports(m, path, modules) for m, path in modules.items()}
    assert _crossing(graph) == ["pmmlkit.a -> pmmlkit.c._d"]
    assert _cycles({"pmmlkit.a": {"pmmlkit.b", "pmmlkit.c._d"}, "pmmlkit.b": {"pmmlkit.a"},
                    "pmmlkit.c._d": set()}) == [["pmmlkit.a", "pmmlkit.b"]]


def test_one_type_map():
    """Only pmmlkit.scorer.contract maps PMML data types to types (a dictionary with three or
    more of them as keys, wherever it is written)."""
    maps = []
    for path in PACKAGE.rglob("*.py"):
        relative = str(path.relative_to(ROOT))
        tree = ast.parse(path.read_text())
        names = {id(node.value): target.id for node in ast.walk(tree)
                 if isinstance(node, (ast.Assign, ast.AnnAssign))
                 for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
                 if isinstance(target, ast.Name)}
        for node in ast.walk(tree):
            if not isinstance(node, ast.Dict):
                continue
            keys = {k.value for k in node.keys if isinstance(k, ast.Constant)
                    and isinstance(k.value, str)}
            name = names.get(id(node), "?")
            if len(keys & PMML_TYPES) >= 3 and (relative, name) not in NOT_TYPE_MAPS:
                maps.append((relative, name))
    assert maps == [("pmmlkit/scorer/contract.py", "_ARROW")], maps
