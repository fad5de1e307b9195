"""Usage errors look like usage errors, flags look like flags, tables keep ids whole, lists take --json."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer.main

from hexlake import __version__
from hexlake.cli import app
from tests.cli.inproc import run_cli
from tests.helpers import env_for, init


def _commands(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from _commands(sub, (*path, name))


ALL = list(_commands(typer.main.get_command(app)))


def test_version_option_and_command_print_the_version() -> None:
    for args in (["--version"], ["version"]):
        r = run_cli(None, *args)
        assert (r.code, r.out.strip()) == (0, __version__), r


@pytest.mark.parametrize(("args", "says"), [
    (["send"], "Missing argument 'file'"),
    (["sources", "create"], "Missing argument 'name'"),
    (["query"], "Missing argument 'sql'"),
    (["bogus"], "No such command 'bogus'"),
    (["--bogus"], "No such option: --bogus"),
    (["load", "--json", "extra"], "unexpected extra argument"),
    (["query", "SELECT 1", "--limit", "zero"], "Invalid value for '--limit'"),
    (["query", "SELECT 1", "--limit", "0"], "greater than or equal to 1"),
    (["places", "nearby", "--lat", "1"], "Missing option '--lng'"),
    (["worker", "--only", "loader,bogus"], "choose from loader, counters, features, geofences"),
])
def test_usage_errors_print_the_usage_line_and_exit_2(args: list[str], says: str) -> None:
    r = run_cli(None, *args)
    assert r.code == 2, r
    assert "Usage: hexlake" in r.err and "--help" in r.err and says in r.err, r.err
    assert "Error: unexpected" not in r.err and "Traceback" not in r.err  # not reported as a crash


@pytest.mark.parametrize(("args", "choices"), [
    (["sources", "create", "x", "--unknown-events", "maybe"], ["accept", "quarantine", "reject"]),
    (["quarantine", "list", "--status", "lost"], ["open", "replayed", "discarded"]),
    (["query", "SELECT 1", "--format", "xml"], ["table", "json", "csv"]),
    (["transform", "history", "--status", "lost"], ["success", "warning", "failed"]),
    (["audit", "list", "--outcome", "lost"], ["ok", "refused", "timeout", "cancelled", "throttled", "error"]),
])
def test_a_value_outside_its_choices_lists_the_valid_ones(args: list[str], choices: list[str]) -> None:
    r = run_cli(None, *args)
    assert r.code == 2, r
    assert all(f"'{c}'" in r.err for c in choices), r.err


def test_errors_after_parsing_exit_1_with_error_and_no_usage(tmp_path: Path) -> None:
    r = run_cli(tmp_path / "missing", "sources", "list")
    assert r.code == 1 and r.err.startswith("Error: ") and "hexlake init" in r.err and "Usage" not in r.err


@pytest.mark.parametrize("path", [p for p, _ in ALL], ids=lambda p: " ".join(p) or "hexlake")
def test_help_shows_boolean_flags_without_a_type(path: tuple[str, ...]) -> None:
    r = run_cli(None, *path, "--help")
    assert r.code == 0, r
    assert "<bool>" not in r.out
    assert "Usage: hexlake" in r.out


LIST_COMMANDS = [p for p, c in ALL if p and p[-1] in ("list", "status", "history", "freshness")
                 and not getattr(c, "commands", None)]


def test_every_list_command_takes_json() -> None:
    assert len(LIST_COMMANDS) >= 10, LIST_COMMANDS
    cmds = dict(ALL)
    missing = [" ".join(p) for p in LIST_COMMANDS if not any("--json" in o.opts for o in cmds[p].params)]
    assert not missing, f"list commands without --json: {missing}"


def test_tables_keep_ids_whole_on_a_narrow_terminal(tmp_path: Path) -> None:
    data = tmp_path / "data"
    init(data)
    env = env_for(data, COLUMNS="60")
    for name in ("a-fence-with-a-long-name-that-needs-wrapping", "b"):
        subprocess.run([sys.executable, "-m", "hexlake.cli", "geofences", "create", "--name", name, "--lat", "41.9",
                        "--lng", "12.48", "--radius-m", "300", "--webhook-url", "https://example.com/a/long/hook"],
                       env=env, check=True, capture_output=True, text=True)
    fences = json.loads(run_cli(data, "geofences", "list", "--json").out)
    shown = subprocess.run([sys.executable, "-m", "hexlake.cli", "geofences", "list"], env=env, check=True,
                           capture_output=True, text=True).stdout
    assert len(fences) == 2 and all(f["id"] in shown for f in fences), shown
    assert "…" not in shown
    assert os.environ.get("COLUMNS") != "60"  # the narrow width was only the subprocess's
