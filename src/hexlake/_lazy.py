"""Lazy package exports (PEP 562): ``from hexlake.gate import Gate`` imports the module on first use.

Importing ``hexlake.config`` runs every stage's ``__init__``; keeping those light keeps the CLI's
start-up free of DuckDB, Arrow, scikit-learn and friends until a command needs them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_exports(package: str, exports: dict[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``exports`` maps a public name to the submodule (relative to ``package``) that defines it."""

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{module}"), name)

    def __dir__() -> list[str]:
        return sorted(exports)

    return __getattr__, __dir__
