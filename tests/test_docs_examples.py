"""Every ```python block in the README and the docs runs, page by page.

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
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"(<!-- docs-test: skip -->\s*\n)?```python\n(.*?)```", re.S)


def _blocks(page: Path) -> list[str]:
    text = page.read_text(encoding="utf-8")
    return [code for skip, code in FENCE.findall(text) if not skip]


PAGES_WITH_CODE = [p for p in PAGES if _blocks(p)]


def test_pages_have_examples():
    # The getting-started page and the README must keep runnable examples.
    names = {p.name for p in PAGES_WITH_CODE}
    assert {"README.md", "getting-started.md"} <= names


@pytest.mark.parametrize("page", PAGES_WITH_CODE, ids=lambda p: str(p.relative_to(ROOT)))
def test_page_code_runs(page: Path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__docs_example__"}
    for i, code in enumerate(_blocks(page)):
        try:
            exec(compile(code, f"{page.name}[block {i}]", "exec"), namespace)
        except Exception as exc:  # show which block failed
            raise AssertionError(f"{page.relative_to(ROOT)} block {i} failed: {exc!r}") from exc
