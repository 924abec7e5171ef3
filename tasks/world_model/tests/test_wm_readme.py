"""The package README names every command and config section."""

from __future__ import annotations

from pathlib import Path

from imbalance_world_model.cli import build_parser
from imbalance_world_model.config import WMConfig

README = Path(__file__).resolve().parents[1] / "README.md"


def test_commands_and_config_sections_are_documented():
    text = README.read_text()
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    for name in commands:
        assert f"imbalance-world-model {name}" in text, name
    for section, keys in WMConfig().to_dict().items():
        assert f"`{section}" in text, section
        if isinstance(keys, dict):
            for key in keys:
                assert f"`{key}`" in text or f"{section}.{key}" in text, f"{section}.{key}"
