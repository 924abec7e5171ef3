"""Every ```python block of every README (the project's and each task package's) and of the
docs runs, page by page; each task package's README names its commands and config sections.

Blocks of one page share a namespace and run in order, as a reader would run
them. A block preceded by the line ``<!-- docs-test: skip -->`` is not run
(for code that needs a GPU or several processes); keep those rare.
"""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parents[1]
READMES = [ROOT / "README.md", *sorted((ROOT / "tasks").glob("*/README.md"))]
PAGES = [*READMES, *sorted((ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"(<!-- docs-test: skip -->\s*\n)?```python\n(.*?)```", re.S)


def _blocks(page: Path) -> list[str]:
    text = page.read_text(encoding="utf-8")
    return [code for skip, code in FENCE.findall(text) if not skip]


PAGES_WITH_CODE = [p for p in PAGES if _blocks(p)]


def test_pages_have_examples():
    # The getting-started page and every README must keep runnable examples.
    assert set(READMES) <= set(PAGES_WITH_CODE)
    assert "getting-started.md" in {p.name for p in PAGES_WITH_CODE}
    assert len(READMES) == 5  # the project's and the four task packages'


# package -> (command, its parser builder, its config class): each README documents both.
TASK_PACKAGES = {
    "risk": ("imbalance-risk", "imbalance_risk.cli", "imbalance_risk.config", "RiskConfig"),
    "text": ("imbalance-text", "imbalance_text.cli", "imbalance_text.config", "TextConfig"),
    "video": ("imbalance-video", "imbalance_video.cli", "imbalance_video.config", "VideoConfig"),
    "world_model": (
        "imbalance-world-model",
        "imbalance_world_model.cli",
        "imbalance_world_model.config",
        "WMConfig",
    ),
}


@pytest.mark.parametrize("package", sorted(TASK_PACKAGES))
def test_task_readme_names_every_command_and_config_section(package):
    import argparse
    import importlib

    prog, cli_module, config_module, config_class = TASK_PACKAGES[package]
    text = (ROOT / "tasks" / package / "README.md").read_text(encoding="utf-8")
    parser = importlib.import_module(cli_module).build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    missing = [name for name in sub.choices if f"{prog} {name}" not in text]
    assert not missing, f"{package} README does not name the commands {missing}"
    config = getattr(importlib.import_module(config_module), config_class)()
    sections = [k for k, v in config.to_dict().items() if isinstance(v, dict)]
    assert sections
    undocumented = [s for s in sections if f"`{s}" not in text]
    assert not undocumented, f"{package} README does not name the config sections {undocumented}"


@pytest.mark.parametrize("page", PAGES_WITH_CODE, ids=lambda p: str(p.relative_to(ROOT)))
def test_page_code_runs(page: Path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__docs_example__"}
    for i, code in enumerate(_blocks(page)):
        try:
            exec(compile(code, f"{page.name}[block {i}]", "exec"), namespace)
        except Exception as exc:  # show which block failed
            raise AssertionError(f"{page.relative_to(ROOT)} block {i} failed: {exc!r}") from exc
