"""The benchmark harness: timing conditions, thread settings, one-line errors, results files.

No timing is asserted here; these tests check that the scripts measure in the conditions of
a user's process and fail with one clear line on bad input.
"""

from __future__ import annotations

import ast
import csv
import doctest
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"
SCRIPTS = sorted(BENCH.glob("bench_*.py"))


def _load_harness():
    spec = importlib.util.spec_from_file_location("_bench_harness", BENCH / "_harness.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


harness = _load_harness()


def _run(script: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=ROOT,
    )


def test_harness_doctests():
    assert doctest.testmod(harness).failed == 0


@pytest.mark.parametrize(("text", "expected"), [("default", None), ("1", 1), ("16", 16)], ids=str)
def test_thread_setting_parses(text, expected):
    assert harness.thread_setting(text) == expected


@pytest.mark.parametrize("text", ["0", "-2", "two", ""])
def test_thread_setting_rejects(text):
    with pytest.raises(Exception, match="must be 'default' or an integer >= 1"):
        harness.thread_setting(text)


def test_limited_threads_limits_every_pool_and_restores():
    from threadpoolctl import threadpool_info

    harness._load_pools()
    before = torch.get_num_threads()
    pools_before = {p["filepath"]: p["num_threads"] for p in threadpool_info()}
    with harness.limited_threads(1):
        assert torch.get_num_threads() == 1
        assert all(p["num_threads"] == 1 for p in threadpool_info())
    assert torch.get_num_threads() == before
    assert {p["filepath"]: p["num_threads"] for p in threadpool_info()} == pools_before


def test_default_setting_changes_nothing():
    before = torch.get_num_threads()
    with harness.limited_threads(None):
        assert torch.get_num_threads() == before


def test_results_file_refuses_other_columns(tmp_path):
    path = tmp_path / "r.csv"
    results = harness.ResultsFile(path, ["a", "b"])
    results.append([{"a": 1, "b": 2}])
    harness.ResultsFile(path, ["a", "b"]).append([{"a": 3}])
    with path.open() as handle:
        assert list(csv.reader(handle)) == [["a", "b"], ["1", "2"], ["3", ""]]
    with pytest.raises(harness.UsageError, match="has other columns"):
        harness.ResultsFile(path, ["a", "c"])


def _calls(tree: ast.AST, name: str) -> list[ast.Call]:
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and (
            (isinstance(node.func, ast.Attribute) and node.func.attr == name)
            or (isinstance(node.func, ast.Name) and node.func.id == name)
        )
    ]


def _callers(tree: ast.AST, name: str) -> list[str]:
    """Names of the innermost functions that call ``name`` (``<module>`` at top level)."""
    found = []

    def visit(node: ast.AST, owner: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                visit(child, child.name)
                continue
            if child in calls:
                found.append(owner)
            visit(child, owner)

    calls = set(_calls(tree, name))
    visit(tree, "<module>")
    return found


@pytest.mark.parametrize("script", [*SCRIPTS, BENCH / "_host.py"], ids=lambda p: p.name)
def test_no_speed_setting_outside_the_harness(script):
    """Thread counts and environment variables are set in the harness only (and applied there
    to every provider alike); glibc's allocator only in the memory probe of bench_losses."""
    tree = ast.parse(script.read_text())
    for name in ("set_num_threads", "threadpool_limits", "putenv"):
        assert not _calls(tree, name), f"{script.name} calls {name}"
    assert set(_callers(tree, "mallopt")) <= {"_malloc_returns_big_blocks"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                text = ast.unparse(target)
                assert "environ" not in text, f"{script.name} sets {text}"
        if isinstance(node, ast.Call) and ast.unparse(node.func).endswith("environ.setdefault"):
            raise AssertionError(f"{script.name} sets an environment variable")


def test_losses_sets_the_allocator_only_in_the_memory_probe():
    tree = ast.parse((BENCH / "bench_losses.py").read_text())
    assert _callers(tree, "_malloc_returns_big_blocks") == ["memory_child"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message of a CPU-only build")
@pytest.mark.parametrize(
    ("script", "args", "option"),
    [
        ("bench_losses.py", ["--device", "cuda"], "--device cuda"),
        ("bench_smote.py", ["--providers", "ours_cuda"], "--providers ours_cuda"),
    ],
)
def test_cuda_on_a_cpu_build_is_one_line(script, args, option):
    out = _run(BENCH / script, *args)
    assert out.returncode == 2
    assert out.stdout == ""
    lines = out.stderr.strip().splitlines()
    prog = script.removesuffix(".py")
    assert lines == [
        f"{prog}: error: {option} needs a CUDA build of torch and a GPU; found torch "
        f"{torch.__version__}"
    ]


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_every_script_uses_the_harness_options(script):
    tree = ast.parse(script.read_text())
    assert _callers(tree, "add_threads_option") == ["_parse"]
    assert _callers(tree, "command_line"), f"{script.name} does not print its command"
    assert _callers(tree, "run_main") == ["<module>"]


def test_bad_threads_is_one_line():
    script = BENCH / "bench_sampling.py"
    out = _run(script, "--threads", "0")
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"{script.stem}: error: argument --threads: must be 'default'")


@pytest.mark.slow
def test_smote_reports_both_thread_settings_with_the_command(tmp_path):
    target = tmp_path / "smote.csv"
    args = ["--sizes", "1000", "--dims", "4", "--shares", "0.1", "--csv", str(target)]
    out = _run(BENCH / "bench_smote.py", *args, timeout=300)
    assert out.returncode == 0, out.stderr
    command = "python benchmarks/bench_smote.py " + " ".join(args)
    assert f"command: {command}" in out.stdout
    with target.open() as handle:
        rows = list(csv.DictReader(handle))
    assert sorted((r["provider"], r["threads"]) for r in rows) == [
        ("imblearn", "1"),
        ("imblearn", "default"),
        ("ours_cpu", "1"),
        ("ours_cpu", "default"),
    ]
    assert {r["command"] for r in rows} == {command}
    assert all(r["status"] == "ok" and float(r["time_s"]) > 0 for r in rows)
    one = [r for r in rows if r["threads"] == "1"]
    assert all(r["threads_in_use"].startswith("torch 1") for r in one)
    assert all("openmp 1" in r["threads_in_use"] for r in one if r["provider"] == "imblearn")
