"""What every ``hexlake`` command shares: settings, the one call path, output helpers.

A command that reads or writes the warehouse or a catalog calls ``call("op_name", **kwargs)``: the
operation runs in the server that owns the data dir when one is up, otherwise in this process on a
fresh ``Runtime`` (see ``serve/client.py``). Commands that must run in this process (a worker, an
import with a progress bar) use ``local_runtime()``. Plugin CLIs import from here only; see
docs/cli.md, "Adding a command".
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from hexlake.config import Settings, load_settings

if TYPE_CHECKING:
    from hexlake.runtime import Runtime

out = Console()
err = Console(stderr=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


# The root command's ``--data-dir``, set by ``hexlake.cli.root`` for the length of one command. It lives
# here, not in ``hexlake.cli``: ``python -m hexlake.cli`` would make a second copy of that module.
_root: dict[str, Path | None] = {"data_dir": None}


def use_data_dir(data_dir: Path | None) -> None:
    _root["data_dir"] = data_dir


def settings() -> Settings:
    """Settings honouring the root ``--data-dir`` (or ``HEXLAKE_DATA_DIR``, or ./.hexlake)."""
    data_dir = _root["data_dir"]
    return load_settings(data_dir=data_dir) if data_dir is not None else load_settings()


def call(op: str, /, **kwargs: Any) -> Any:
    """Run operation ``op`` through the running server, or locally when there is none."""
    from hexlake.serve.client import call as client_call

    return client_call(settings(), op, **kwargs)


def server_running() -> bool:
    """Whether a server owns the data dir (commands use it to skip local-only progress output)."""
    from hexlake.serve.client import find_server

    return find_server(settings()) is not None


@contextmanager
def local_runtime(base: Settings | None = None) -> Iterator[Runtime]:
    """A ``Runtime`` in this process, closed on exit: only for commands that never touch the warehouse
    file while a server may own it (workers on a shared log, imports into the log)."""
    from hexlake.runtime import Runtime

    runtime = Runtime(base or settings())
    try:
        yield runtime
    finally:
        runtime.close()


def emit(data: Any, as_json: bool, render: Callable[[Any], None] | None = None) -> None:
    """``--json``: one line of JSON; otherwise ``render(data)``, or indented JSON without one."""
    if as_json or render is None:
        sys.stdout.write(json.dumps(data, indent=None if as_json else 2, default=str) + "\n")
    else:
        render(data)


def table(rows: list[dict[str, Any]], columns: list[str], title: str | None = None) -> None:
    """A rich table that never cuts a value: id-like columns keep their full width, others wrap.

    Ids are what the next command needs (``hexlake import status imp_…``), so an ellipsis there is a bug.
    """
    t = Table(title=title)
    for c in columns:
        cells = ["" if r.get(c) is None else str(r.get(c)) for r in rows]
        if _is_id(c):
            t.add_column(c, no_wrap=True, min_width=max((len(v) for v in cells), default=len(c)))
        else:
            t.add_column(c, overflow="fold")
    for r in rows:
        t.add_row(*["" if r.get(c) is None else str(r.get(c)) for c in columns])
    out.print(t, soft_wrap=False, crop=False)


def _is_id(column: str) -> bool:
    return column in ("id", "name", "event_id", "target") or column.endswith("_id")


def show_flags_as_flags(command: Any) -> None:
    """Drop the ``<bool>`` type typer's help prints after on/off flags (``--json``, not ``--json <bool>``)."""
    help_option = command.get_help_option(typer.Context(command))  # created once, then cached on the command
    for param in [*getattr(command, "params", []), *([help_option] if help_option else [])]:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
    for sub in getattr(command, "commands", {}).values():
        show_flags_as_flags(sub)


__all__ = ["JsonOpt", "call", "emit", "err", "local_runtime", "out", "server_running", "settings",
           "show_flags_as_flags", "table", "use_data_dir"]
