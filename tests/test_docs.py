"""Docs stay true: every setting is documented, every CLI command explains itself."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from hexlake.cli import app

ROOT = Path(__file__).resolve().parent.parent


def test_configuration_doc_is_regenerated_from_settings() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("gen", ROOT / "scripts" / "gen_config_doc.py")
    assert spec is not None and spec.loader is not None
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    assert (ROOT / "docs" / "configuration.md").read_text() == gen.render(), (
        "docs/configuration.md is stale: run `python scripts/gen_config_doc.py`"
    )


def _commands(cmd: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    for name, sub in getattr(cmd, "commands", {}).items():
        yield (*path, name), sub
        yield from _commands(sub, (*path, name))


def test_every_cli_command_has_help_text() -> None:
    runner = CliRunner()
    missing = []
    import typer.main

    for path, sub in _commands(typer.main.get_command(app)):
        if not (sub.help or sub.short_help):
            missing.append(" ".join(path))
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
    assert not missing, f"commands without help: {missing}"
