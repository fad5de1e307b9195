"""One extraction run: for each table, detect drift, then land new rows batch by batch."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Container, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import orjson

from hexlake.extract import land
from hexlake.extract.errors import ExtractConfigError, ExtractError
from hexlake.extract.policy import Derived, PiiPolicy, derived_columns, protect, scrub_free
from hexlake.extract.sources import Column, Source, check_ident, open_source, source_name
from hexlake.privacy.hashing import Hasher

CDC_CURSOR = "_cdc_lsn"  # hexlake.extract.cdc.CURSOR


@dataclass(frozen=True)
class ExtractOptions:
    cursor: str | None = None
    full_refresh: bool = False
    batch_size: int = 10_000
    name: str | None = None
    cdc: bool = False  # PostgreSQL logical replication instead of a cursor column (hexlake.extract.cdc)


@dataclass
class TableResult:
    """What one table's extraction did (printed by the CLI, ``--json`` for scripts)."""

    table: str
    raw_table: str
    mode: str  # incremental | snapshot | full_refresh
    rows: int = 0
    high_water: Any = None
    drift: list[dict[str, Any]] = field(default_factory=list)
    #: What staging generation needs: the key, the cursor, the landed columns and the PII actions.
    primary_key: list[str] = field(default_factory=list)
    cursor: str | None = None
    columns: list[list[str]] = field(default_factory=list)
    pii: dict[str, str] = field(default_factory=dict)
    source: str = ""
    #: The warehouse schema the raw table lives in (DuckDB ``main``, PostgreSQL ``public``).
    raw_schema: str = "main"


def diff_columns(old: Sequence[Column], new: Sequence[Column]) -> list[dict[str, Any]]:
    """Schema drift between the stored and the current landed columns."""
    before = {c.name: c.type for c in old}
    after = {c.name: c.type for c in new}
    drift: list[dict[str, Any]] = [{"column": n, "change": "added", "type": t}
                                   for n, t in after.items() if n not in before]
    drift += [{"column": n, "change": "type_changed", "from": before[n], "to": t,
               "action": "raw column widened to VARCHAR"}
              for n, t in after.items() if n in before and before[n] != t and before[n] != "VARCHAR"]
    drift += [{"column": n, "change": "removed", "action": "lands as NULL"}
              for n in before if n not in after]
    return drift


def _normalise(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()
    if isinstance(value, uuid.UUID | memoryview | bytearray | bytes):
        return value.hex() if isinstance(value, bytes | bytearray | memoryview) else str(value)
    if isinstance(value, str | int | float | bool | date) or value is None:
        return value
    return str(value)


class TableExtractor:
    def __init__(self, source: Source, warehouse: Any, table: str, options: ExtractOptions,
                 policy: PiiPolicy, hasher: Hasher, now: datetime, suppressed: Container[str] = frozenset()):
        self.source, self.wh, self.table, self.options = source, warehouse, table, options
        self.suppressed = suppressed  # user_keys of erased people: their rows are dropped at landing
        self.policy = policy
        self.hasher = hasher
        self.now = now
        self.raw = f"raw_{source.name}_{table}".lower()
        from hexlake.gate.scrub import Scrubber

        self._scrubber = Scrubber(hasher)
        self._kept = {c for c, a in policy.for_table(table).items() if a == "keep"}  # explicitly opted out

    def landed_columns(self, source_cols: Sequence[Column]) -> list[Column]:
        """Source columns as landed (hashed/masked → VARCHAR, dropped → absent) plus derived columns."""
        out: list[Column] = []
        self._plan: list[tuple[str, str, list[Derived]]] = []  # (source column, action, derivations)
        for c in source_cols:
            action = self.policy.action(self.table, c.name)
            derived = derived_columns(c.name, action, self.table)
            self._plan.append((c.name, action, derived))
            if action != "drop":
                out.append(Column(c.name, "VARCHAR") if action in ("hash", "mask") else c)
            out += [Column(d.name, d.type) for d in derived]
        return out

    def run(self, on_rows: Callable[[str, int], None] | None = None) -> TableResult:
        opts = self.options
        source_cols = self.source.columns(self.table)
        if opts.cursor and opts.cursor not in {c.name for c in source_cols}:
            raise ExtractConfigError(f"cursor column {opts.cursor!r} is not a column of {self.table}",
                                     field="cursor")
        if opts.full_refresh:
            land.drop_table(self.wh, self.raw)
            land.delete_state(self.wh, self.source.name, self.table)
        state = land.load_state(self.wh, self.source.name, self.table)
        landed = self.landed_columns(source_cols)
        result = TableResult(self.table, self.raw, "full_refresh" if opts.full_refresh else
                             ("incremental" if opts.cursor else "snapshot"))
        stored = self._apply_drift(state, landed, result)
        result.source = self.source.name
        result.raw_schema = raw_schema(self.wh)
        result.primary_key, result.cursor = self.source.primary_key(self.table), opts.cursor
        result.columns = [[c.name, c.type] for c in stored]
        result.pii = {name: action for name, action, _ in self._plan if action != "keep"}
        after = state["high_water"] if state and opts.cursor and state["cursor"] == opts.cursor else None
        result.high_water = after
        total = state["rows_total"] if state else 0
        land.ensure_partition(self.wh, self.raw, self.now.date())
        names = [c.name for c in landed]
        pos = {c.name: i for i, c in enumerate(source_cols)}
        for batch in self.source.batches(self.table, [c.name for c in source_cols], opts.cursor, after,
                                         opts.batch_size):
            rows = [self._row(r) for r in batch]
            if opts.cursor:
                result.high_water = batch[-1][pos[opts.cursor]]
            total += len(rows)
            state_sql = land._save_state_sql(self.wh, self.source.name, self.table, opts.cursor,
                                             result.high_water, stored, total, self.now)
            kept = land.insert_batch(self.wh, self.raw, [c.name for c in land.META] + names, rows, state_sql,
                                     self.suppressed)
            result.rows += kept
            if on_rows:
                on_rows(self.table, len(rows))
        if result.rows == 0:
            land.save_state(self.wh, self.source.name, self.table, opts.cursor, result.high_water, stored,
                            total, self.now)
        return result

    def _apply_drift(self, state: dict[str, Any] | None, landed: list[Column], result: TableResult) -> list[Column]:
        """Create or alter the raw table; return the column list to store (old columns kept)."""
        if state is None or not land.table_exists(self.wh, self.raw):
            land.create_table(self.wh, self.raw, landed)
            return landed
        result.drift = diff_columns(state["columns"], landed)
        kept = {c.name: c for c in state["columns"]}
        for change in result.drift:
            if change["change"] == "added":
                col = Column(change["column"], change["type"])
                land.add_column(self.wh, self.raw, col)
                kept[col.name] = col
            elif change["change"] == "type_changed":
                land.widen_to_text(self.wh, self.raw, change["column"])
                kept[change["column"]] = Column(change["column"], "VARCHAR")
        return list(kept.values())

    def _row(self, row: Sequence[Any]) -> tuple[Any, ...]:
        """One landed row: derivations read the plain value, then it is protected or left out."""
        values: list[Any] = [self.now, self.now.date(), self.source.name]
        for i, (name, action, derived) in enumerate(self._plan):
            value = _normalise(row[i])
            if action == "keep":  # no rule names it: PII inside its text or JSON is still hashed
                values.append(value if name.lower() in self._kept else scrub_free(value, self._scrubber))
            elif action != "drop":
                values.append(protect(value, action, name, self.hasher))
            values += [d.compute(value, self.hasher) for d in derived]
        return tuple(values)


def raw_schema(wh: Any) -> str:
    """Where unqualified raw tables land: the warehouse's current schema (same query on both engines)."""
    row = wh.cursor().execute("SELECT current_schema()").fetchone()
    return str(row[0]) if row and row[0] else "main"


def _open(url: str, options: ExtractOptions) -> Source:
    if not options.cdc:
        return open_source(url, options.name)
    if options.cursor:
        raise ExtractConfigError("--cdc and --cursor exclude each other: change data capture orders by the WAL",
                                 field="cursor")
    if not url.startswith(("postgresql://", "postgres://")):
        raise ExtractConfigError("change data capture (--cdc) needs a postgresql:// source", field="cdc")
    from hexlake.extract.cdc import PostgresCdcSource

    return PostgresCdcSource(url, check_ident(options.name or source_name(url), "name"))


def extract_tables(source_url: str, warehouse: Any, tables: Sequence[str], options: ExtractOptions,
                   policy: PiiPolicy, hasher: Hasher, *, clock: Callable[[], float] = time.time,
                   on_rows: Callable[[str, int], None] | None = None,
                   suppressed: Container[str] = frozenset()) -> list[TableResult]:
    """Extract ``tables`` from the source into ``raw_<source>_<table>``; return one result each."""
    for t in tables:
        check_ident(t, "tables")
    if options.cursor:
        check_ident(options.cursor, "cursor")
    source = _open(source_url, options)
    if options.cdc:
        options = replace(options, cursor=CDC_CURSOR)
    now = datetime.fromtimestamp(clock(), UTC).replace(tzinfo=None, microsecond=0)
    try:
        return [TableExtractor(source, warehouse, t, options, policy, hasher, now, suppressed).run(on_rows)
                for t in tables]
    except (ExtractConfigError, ExtractError):
        raise
    except Exception as exc:
        if type(exc).__module__.split(".")[0] in ("psycopg", "pymysql", "duckdb"):
            raise ExtractError(f"extraction failed: {exc}; re-run to resume from the stored high-water mark") \
                from exc
        raise
    finally:
        source.close()


__all__ = ["ExtractOptions", "TableExtractor", "TableResult", "diff_columns", "extract_tables"]
