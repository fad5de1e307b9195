"""The CLI has one path to the warehouse and catalogs, and routers one way to the runtime (static checks,
so that a new command or router cannot quietly grow its own)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from hexlake import plugins

SRC = Path(__file__).resolve().parents[2] / "src" / "hexlake"
# Processes in their own right, which open the runtime on purpose (docs/cli.md lists them).
RUNS_LOCALLY = {"hexlake.worker"}


def _cli_modules() -> dict[str, Path]:
    modules = {"hexlake.cli": SRC / "cli.py"}
    for _, ref, _ in plugins.CLI_APPS:
        name = ref.partition(":")[0]
        spec = importlib.util.find_spec(name)
        assert spec is not None and spec.origin is not None, name
        modules[name] = Path(spec.origin)
    return modules


def test_cli_modules_reach_the_warehouse_only_through_cli_common_call() -> None:
    bad = []
    for name, path in _cli_modules().items():
        text = path.read_text()
        for needle in ("get_warehouse(", "serve.client import", "load_settings(", "find_root()"):
            if needle in text and not (name in RUNS_LOCALLY and needle == "get_warehouse("):
                bad.append(f"{name}: {needle}")
    assert not bad, f"use hexlake.cli_common (call, settings, local_runtime) instead: {bad}"


def test_routers_get_the_runtime_from_runtime_of() -> None:
    allowed = {SRC / "serve" / "deps.py", SRC / "serve" / "app.py"}
    code = re.compile(r"(?<!``)request\.app\.state\.runtime")  # not in a docstring's ``literal``
    bad = [str(p.relative_to(SRC)) for p in SRC.rglob("*.py") if p not in allowed and code.search(p.read_text())]
    assert not bad, f"use hexlake.serve.deps.runtime_of(request): {bad}"
