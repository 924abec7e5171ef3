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
