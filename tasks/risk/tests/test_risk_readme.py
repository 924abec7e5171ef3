"""The package README: its Python example runs and every command and config key it names exists."""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib
from imbalance_risk.cli import build_parser
from imbalance_risk.config import RiskConfig

matplotlib.use("Agg")

README = Path(__file__).resolve().parents[1] / "README.md"


def test_python_blocks_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert blocks
    namespace: dict = {"__name__": "__readme__"}
    for i, code in enumerate(blocks):
        exec(compile(code, f"README.md[block {i}]", "exec"), namespace)


def test_commands_and_config_sections_are_documented():
    text = README.read_text()
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command_used").choices
    for name in commands:
        assert f"imbalance-risk {name}" in text, name
    for section in RiskConfig().to_dict():
        assert f"`{section}`" in text or section in ("seed", "baseline"), section
