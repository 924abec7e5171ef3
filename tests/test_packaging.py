"""What the distributions built from this repository contain, as pip would install them.

The core's sdist and wheel and each task package's wheel are built once per session
(setuptools' own build backend, in a subprocess, from a copy of the sources so that the
checkout gets no ``build/`` or ``*.egg-info``; about five seconds) and inspected:

- the core sdist carries its tests (``tests/``, the conftests, the pages whose examples
  run), so ``pytest`` runs on an unpacked sdist; the core wheel carries the references
  the tests import (``imbalance_kit.testing.references``) and no tests;
- each task package's wheel requires a range of ``imbalance-kit`` that admits this
  core's version (not an unpinned name), ships every ``configs/*.yaml`` of the package
  inside it (``--config default`` resolves to ``<package>/configs/default.yaml``, see
  ``imbalance_kit.app.resolve_config_path``) and its LICENSE.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import zipfile
from email.parser import HeaderParser
from pathlib import Path, PurePosixPath

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
TASKS = sorted(p.parent for p in (ROOT / "tasks").glob("*/pyproject.toml"))
# what is never part of a distribution's sources
SKIP = shutil.ignore_patterns(
    ".git", ".venv", "site", "build", "dist", "*.egg-info", "__pycache__", "*.py[cod]",
    ".pytest_cache", ".ruff_cache", ".hypothesis", ".gl", "runs", "tasks",
    "demo_output", "compare_output", "analyze_output",
)  # fmt: skip

_BUILD = """
import sys
from setuptools import build_meta
out, kinds = sys.argv[1], sys.argv[2:]
for kind in kinds:
    getattr(build_meta, f"build_{kind}")(out)
"""


def _build_all(jobs: list[tuple[Path, Path, list[str]]]) -> None:
    """Run every (source, dest, kinds) build at once, each in its own process."""
    running = []
    for source, dest, kinds in jobs:
        dest.mkdir(parents=True)
        cmd = [sys.executable, "-c", _BUILD, str(dest), *kinds]
        proc = subprocess.Popen(
            cmd, cwd=source, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        running.append((source, proc))
    for source, proc in running:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, f"building {source.name} failed:\n{err[-3000:]}"


@pytest.fixture(scope="session")
def built(tmp_path_factory) -> dict[str, Path]:
    """The core's sdist and wheel and every task package's wheel, by name."""
    tmp = tmp_path_factory.mktemp("packaging")
    shutil.copytree(ROOT, tmp / "src" / "core", ignore=SKIP)
    jobs = [(tmp / "src" / "core", tmp / "dist" / "core", ["sdist", "wheel"])]
    for task in TASKS:
        shutil.copytree(task, tmp / "src" / task.name, ignore=SKIP)
        jobs.append((tmp / "src" / task.name, tmp / "dist" / task.name, ["wheel"]))
    _build_all(jobs)
    artifacts = {
        "core-sdist": next((tmp / "dist" / "core").glob("*.tar.gz")),
        "core-wheel": next((tmp / "dist" / "core").glob("*.whl")),
    }
    for task in TASKS:
        artifacts[task.name] = next((tmp / "dist" / task.name).glob("*.whl"))
    return artifacts


def _wheel_files(wheel: Path) -> list[PurePosixPath]:
    with zipfile.ZipFile(wheel) as z:
        return [PurePosixPath(name) for name in z.namelist()]


def _wheel_metadata(wheel: Path):
    with zipfile.ZipFile(wheel) as z:
        name = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        return HeaderParser().parsestr(z.read(name).decode("utf-8"))


def test_core_sdist_carries_its_tests(built):
    with tarfile.open(built["core-sdist"]) as tar:
        names = {PurePosixPath(*PurePosixPath(m).parts[1:]).as_posix() for m in tar.getnames()}
    expected = {
        "conftest.py",
        "pyproject.toml",
        "README.md",
        "LICENSE",
        "tests/__init__.py",
        "tests/conftest.py",
        "docs/getting-started.md",
        "imbalance_kit/testing/references/__init__.py",
    }
    assert expected <= names, sorted(expected - names)
    in_repo = {p.relative_to(ROOT).as_posix() for p in (ROOT / "tests").glob("test_*.py")}
    assert in_repo <= names, sorted(in_repo - names)
    assert not [n for n in names if n.startswith("tasks/")], "task packages ship on their own"


def test_core_wheel_carries_the_library_and_not_the_tests(built):
    files = {p.as_posix() for p in _wheel_files(built["core-wheel"])}
    assert "imbalance_kit/py.typed" in files
    assert "imbalance_kit/testing/references/focal.py" in files
    assert not [f for f in files if f.startswith("tests/")]
    entry_points = [f for f in files if f.endswith(".dist-info/entry_points.txt")]
    assert entry_points, "the imbalance-kit command is declared"


TASK_NAMES = [task.name for task in TASKS]


@pytest.mark.parametrize("task", TASK_NAMES)
def test_task_package_requires_a_compatible_core_range(built, task):
    core = Version(_wheel_metadata(built["core-wheel"])["Version"])
    requires = [Requirement(r) for r in _wheel_metadata(built[task]).get_all("Requires-Dist")]
    (core_req,) = [r for r in requires if r.name == "imbalance-kit"]
    assert str(core_req.specifier), f"{task} requires imbalance-kit with no version range"
    assert core_req.specifier.contains(core, prereleases=True), (
        f"{task} requires imbalance-kit{core_req.specifier}, which excludes this core {core}"
    )


@pytest.mark.parametrize("task", TASK_NAMES)
def test_task_package_ships_its_configs_inside_the_package(built, task):
    source = ROOT / "tasks" / task
    (package,) = [p.name for p in source.iterdir() if (p / "__init__.py").is_file()]
    wanted = {
        p.name for p in source.rglob("configs/*.y*ml") if "tests" not in p.relative_to(source).parts
    }
    assert wanted, f"tasks/{task} has no configs"
    shipped = {
        f.name
        for f in _wheel_files(built[task])
        if f.parent == PurePosixPath(package, "configs") and f.suffix in (".yaml", ".yml")
    }
    assert wanted <= shipped, f"not in {package}/configs of the wheel: {sorted(wanted - shipped)}"


@pytest.mark.parametrize("task", TASK_NAMES)
def test_task_package_ships_its_license(built, task):
    files = _wheel_files(built[task])
    licenses = [f for f in files if f.parts[0].endswith(".dist-info") and "LICEN" in f.name]
    assert licenses, f"the {task} wheel has no LICENSE"
    assert _wheel_metadata(built[task]).get_all("License-File"), "no License-File in METADATA"
