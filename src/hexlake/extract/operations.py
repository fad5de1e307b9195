"""``extract`` as an operation the CLI calls through ``cli_common.call``: the raw tables land in the
warehouse, so the server runs it when it owns the warehouse file."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hexlake.runtime import Runtime


def extract(runtime: Runtime, source: str, tables: list[str], pii_rules: dict[str, dict[str, str]] | None = None,
            cursor: str | None = None, full_refresh: bool = False, name: str | None = None,
            batch_size: int = 10_000, accepted: dict[str, dict[str, list[Any]]] | None = None,
            cdc: bool = False) -> list[dict[str, Any]]:
    """Copy ``tables`` of ``source`` into ``raw_<source>_<table>``; one result per table. Then
    regenerate the ``staging.stg_<source>_<table>`` models (``accepted``: per table, column →
    accepted values audited in staging); the next transform run builds them."""
    from hexlake.extract import ExtractOptions, PiiPolicy, extract_tables
    from hexlake.extract.staging import project_dir, write_project
    from hexlake.privacy.hashing import Hasher
    from hexlake.privacy.secret import load_secret
    from hexlake.privacy.suppression import get_suppression
    from hexlake.transform.operations import engine
    from hexlake.warehouse import get_warehouse

    options = ExtractOptions(cursor=cursor, full_refresh=full_refresh, batch_size=batch_size, name=name, cdc=cdc)
    hasher = Hasher(load_secret(runtime.settings.paths.secret))
    results = [vars(r) for r in extract_tables(source, get_warehouse(runtime), tables, options,
                                               PiiPolicy(rules=pii_rules or {}), hasher,
                                               suppressed=get_suppression(runtime))]
    if results and write_project(project_dir(runtime.settings.data_dir), results, results[0]["source"], accepted):
        engine(runtime).close()  # the project changed: the next transform reloads it
    return results


OPERATIONS: dict[str, Callable[..., Any]] = {"extract": extract}

__all__ = ["OPERATIONS"]
