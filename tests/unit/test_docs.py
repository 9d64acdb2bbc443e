"""The README is the user's manual: every setting and every CLI command must be in it."""

from __future__ import annotations

from pathlib import Path

import click

from azul_metastore.cli import main
from azul_metastore.settings import Settings

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_every_setting_is_documented() -> None:
    missing = [name for name in Settings.model_fields if f"`{name}`" not in README]
    assert not missing, f"settings missing from README's configuration table: {missing}"


def _commands(group: click.Group, prefix: str = "") -> list[str]:
    out = []
    for name, command in group.commands.items():
        full = f"{prefix}{name}"
        if isinstance(command, click.Group):
            out += _commands(command, f"{full} ")
        else:
            out.append(full)
    return out


def test_every_cli_command_is_documented() -> None:
    missing = [name for name in _commands(main) if f"`{name}" not in README]
    assert not missing, f"CLI commands missing from README: {missing}"


def test_every_command_has_an_example() -> None:
    def walk(group: click.Group) -> list[click.Command]:
        found = []
        for command in group.commands.values():
            found += walk(command) if isinstance(command, click.Group) else [command]
        return found

    missing = [c.name for c in walk(main) if "Example" not in (c.help or "")]
    assert not missing, f"commands without an Example in their help: {missing}"
