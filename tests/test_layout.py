"""The shape of the code base: what may import what."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_task_packages_import_only_public_core_names():
    offenders = []
    for path in sorted((ROOT / "tasks").glob("*/**/*.py")):
        for name in _imported_modules(path):
            parts = name.split(".")
            if parts[0] == "imbalance_kit" and any(p.startswith("_") for p in parts[1:]):
                offenders.append(f"{path.relative_to(ROOT)}: {name}")
    assert offenders == []


def test_a_private_core_import_is_caught(tmp_path):
    planted = tmp_path / "m.py"
    planted.write_text("from imbalance_kit._validation import error\n")
    names = _imported_modules(planted)
    assert any(p.startswith("_") for n in names for p in n.split(".")[1:])


# ----------------------------------------------------------------------------- import graph

PACKAGE = ROOT / "imbalance_kit"


def _module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """Module -> the package's modules it imports (module level and inside functions).

    ``from a.b import c`` counts as importing ``a.b.c`` when that is a module, else ``a.b``;
    relative imports are resolved against the importing module's package. A module's parent
    packages are not counted (Python initialises them first, which is no cycle).
    """
    root = package.parent
    files = {_module_name(p, root): p for p in sorted(package.rglob("*.py"))}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        is_package = path.name == "__init__.py"
        here = name if is_package else name.rpartition(".")[0]
        edges: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = here.split(".")
                    anchor = anchor[: len(anchor) - (node.level - 1)]
                    base = ".".join(anchor + ([base] if base else []))
                targets = [
                    f"{base}.{alias.name}" if f"{base}.{alias.name}" in files else base
                    for alias in node.names
                ]
            else:
                continue
            for target in targets:
                while target and target not in files:  # `import a.b.c` where c is a name
                    target = target.rpartition(".")[0]
                if target and target != name:
                    edges.add(target)
        graph[name] = edges
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = [m for m in graph if m == start or m.startswith(start + ".")]
    while todo:
        m = todo.pop()
        if m not in seen:
            seen.add(m)
            todo.extend(graph.get(m, ()))
    return seen


def test_no_import_cycle_in_the_package():
    cycles = _cycles(_import_graph())
    assert cycles == [], "import cycles: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_kernels_are_a_leaf_that_never_imports_the_losses():
    graph = _import_graph()
    reached = _reachable(graph, "imbalance_kit.kernels")
    assert sorted(m for m in reached if m.startswith("imbalance_kit.losses")) == []
    assert any(m.startswith("imbalance_kit.kernels.") for m in graph)


def test_the_import_walker_sees_a_planted_cycle(tmp_path):
    pkg = tmp_path / "imbalance_kit"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("from . import a\n")
    (pkg / "sub" / "a.py").write_text("def f():\n    from .b import g\n")  # function level
    (pkg / "sub" / "b.py").write_text("from imbalance_kit.sub.a import f\nimport os\n")
    (pkg / "c.py").write_text("from .sub import b\n")
    graph = _import_graph(pkg)
    assert graph["imbalance_kit.sub.a"] == {"imbalance_kit.sub.b"}
    assert graph["imbalance_kit.c"] == {"imbalance_kit.sub.b"}
    assert _cycles(graph) == [["imbalance_kit.sub.a", "imbalance_kit.sub.b"]]
    assert "imbalance_kit.sub.b" in _reachable(graph, "imbalance_kit.c")
