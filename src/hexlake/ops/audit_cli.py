"""``hexlake audit``: read and purge the query audit log (through the server when one runs)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

import typer

from hexlake.cli_common import JsonOpt, call, emit, out, table
from hexlake.ops.audit import OUTCOMES

app = typer.Typer(no_args_is_help=True)
Outcome = StrEnum("Outcome", {o: o for o in OUTCOMES})  # type: ignore[misc]  # one list: ops/audit.py
_COLUMNS = ["executed_at", "key_id", "outcome", "rows_returned", "execution_time_ms", "tables", "query_text"]


@app.command("list")
def list_(
    limit: Annotated[int, typer.Option(help="Most records, newest first.", min=1, max=10_000)] = 50,
    key: Annotated[str | None, typer.Option("--key", help="Only this key id.")] = None,
    outcome: Annotated[Outcome | None, typer.Option(help="Only this outcome.")] = None,
    since: Annotated[str | None, typer.Option(help="Only records at or after this ISO time (UTC).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Who queried what: key id, SQL, tables touched, rows, duration, outcome."""
    result = call("audit_list", limit=limit, key_id=key, outcome=outcome.value if outcome else None, since=since)
    emit(result["items"], as_json, _render)


@app.command()
def purge(as_json: JsonOpt = False) -> None:
    """Delete records older than the audit retention class (query.audit_retention_days)."""
    result = call("audit_purge")
    emit(result, as_json, lambda r: out.print(
        f"deleted {r['deleted']} audit records older than {r['retention_days']} days"))


def _render(items: list[dict[str, Any]]) -> None:
    rows = [{**i, "tables": ", ".join(i["tables_accessed"])} for i in items]
    table(rows, _COLUMNS, title="query audit log")


__all__ = ["app"]
