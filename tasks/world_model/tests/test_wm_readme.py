"""The package README names every command and config section."""

from __future__ import annotations

import re
from pathlib import Path

from imbalance_world_model.cli import build_parser
from imbalance_world_model.config import WMConfig

README = Path(__file__).resolve().parents[1] / "README.md"
DOCS_PAGE = Path(__file__).resolve().parents[3] / "docs" / "tasks" / "world_model.md"


def test_python_blocks_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for path in (README, DOCS_PAGE):
        blocks = re.findall(r"```python\n(.*?)```", path.read_text(), re.S)
        assert blocks, path
        for i, code in enumerate(blocks):
            exec(compile(code, f"{path.name}[block {i}]", "exec"), {"__name__": "__readme__"})


def test_commands_and_config_sections_are_documented():
    text = README.read_text()
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command_used").choices
    for name in commands:
        assert f"imbalance-world-model {name}" in text, name
    for section, keys in WMConfig().to_dict().items():
        assert f"`{section}" in text, section
        if isinstance(keys, dict):
            for key in keys:
                assert f"`{key}`" in text or f"{section}.{key}" in text, f"{section}.{key}"
