"""``extract`` as an operation the CLI calls through ``cli_common.call``: the raw tables land in the
warehouse, so the server runs it when it owns the warehouse file."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hexlake.runtime import Runtime


def extract(runtime: Runtime, source: str, tables: list[str], pii_rules: dict[str, dict[str, str]] | None = None,
            cursor: str | None = None, full_refresh: bool = False, name: str | None = None,
            batch_size: int = 10_000) -> list[dict[str, Any]]:
    """Copy ``tables`` of ``source`` into ``raw_<source>_<table>``; one result per table."""
    from hexlake.extract import ExtractOptions, PiiPolicy, extract_tables
    from hexlake.privacy.hashing import Hasher
    from hexlake.privacy.secret import load_secret
    from hexlake.warehouse import get_warehouse

    options = ExtractOptions(cursor=cursor, full_refresh=full_refresh, batch_size=batch_size, name=name)
    hasher = Hasher(load_secret(runtime.settings.paths.secret))
    results = extract_tables(source, get_warehouse(runtime), tables, options, PiiPolicy(rules=pii_rules or {}),
                             hasher)
    return [vars(r) for r in results]


OPERATIONS: dict[str, Callable[..., Any]] = {"extract": extract}

__all__ = ["OPERATIONS"]
