"""``QuerySandbox``: runs one user statement within the limits and audits it (see ``sandbox`` for the why).

DuckDB: a fresh connection of the (hardened) warehouse database per query, interrupted by the
watchdog at the time limit. PostgreSQL: a fresh connection per query in a ``READ ONLY`` transaction
with ``statement_timeout``, cancelled the same way. Both parse with the same allowlist.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any

from hexlake.errors import BadRequest, HexlakeError, TooManyRequests
from hexlake.ops.audit import AuditEntry, AuditLog, get_audit_log, now_iso
from hexlake.runtime import Runtime
from hexlake.warehouse.config import QueryConfig
from hexlake.warehouse.readonly import ParsedQuery, QueryRefused, allowed_function_keys, parse_query
from hexlake.warehouse.sandbox import (
    Caller,
    Catalogue,
    QueryCancelled,
    QueryResult,
    QueryTimeout,
    Running,
    Slots,
    Watchdog,
    authorise,
    check_forbidden_kind,
    harden,
    visible_tables,
)

_CATALOGUE_SQL = (
    "SELECT table_schema, table_name, column_name FROM information_schema.columns "
    "WHERE table_catalog = current_database()"
)
_OUTCOMES: list[tuple[type[BaseException], str]] = [
    (QueryRefused, "refused"),
    (QueryTimeout, "timeout"),
    (QueryCancelled, "cancelled"),
    (TooManyRequests, "throttled"),
]
OnStart = Callable[[Running], None]


class QuerySandbox:
    """The one way user SQL reaches the warehouse."""

    def __init__(self, warehouse: Any, config: QueryConfig, audit: AuditLog, landing: Any = None):
        self.warehouse = warehouse
        # models on Spark: ``warehouse`` reads them, ``landing`` (the DuckDB file) has the raw tables
        self.landing = landing
        self._model_tables: set[tuple[str, str]] = set()
        self.config = config
        self.audit = audit
        self.dialect: str = getattr(warehouse, "dialect", "duckdb")
        self.slots = Slots(config.max_concurrent, config.max_concurrent_per_key)
        self.watchdog = Watchdog()
        self.catalogue = Catalogue(self._load_catalogue)
        self._handles: dict[int, Running] = {}
        self._lock = threading.Lock()
        if self.dialect == "duckdb":
            harden(warehouse.cursor(), config.memory_limit)
        allowed_function_keys(self.dialect)  # build the allowlist now, not on the first request

    def run(self, sql: str, caller: Caller, limit: int | None = None, on_start: OnStart | None = None) -> QueryResult:
        """Check, run and audit one statement; at most ``min(limit, max_rows)`` rows."""
        started, executed_at = time.perf_counter(), now_iso()
        tables: list[str] = []
        outcome, error, rows = "error", None, 0
        try:
            check_forbidden_kind(caller)
            parsed = parse_query(sql, self.dialect)
            tables = authorise(parsed, caller, self.catalogue.tables(), self._default_schema())
            result = self._run_checked(parsed, caller, limit, on_start, self._source(tables))
            result.tables = tables
            outcome, rows = "ok", len(result.rows)
            return result
        except HexlakeError as exc:
            outcome = next((name for kind, name in _OUTCOMES if isinstance(exc, kind)), "error")
            error = exc.message
            raise
        finally:
            self.audit.record(
                AuditEntry(
                    key_id=caller.key_id,
                    key_kind=caller.kind,
                    via=caller.via,
                    query_text=sql,
                    tables_accessed=tables,
                    rows_returned=rows,
                    executed_at=executed_at,
                    execution_time_ms=round((time.perf_counter() - started) * 1000, 3),
                    outcome=outcome,
                    error=error,
                )
            )

    def cancel_all(self, reason: str = "the server is stopping") -> None:
        with self._lock:
            handles = list(self._handles.values())
        for handle in handles:
            handle.cancel(reason)

    def close(self) -> None:
        self.cancel_all()

    def _source(self, tables: list[str]) -> Any:
        """The database a statement runs on: the models' reader, or the landing one for raw tables."""
        if self.landing is None:
            return self.warehouse
        models = {tuple(t.split(".", 1)) in self._model_tables for t in tables}
        if models == {True, False}:
            raise QueryRefused(
                "query refused: the models Spark built and the raw tables are in different "
                "databases; query them separately",
                field="sql",
            )
        return self.landing if models == {False} else self.warehouse

    def _run_checked(
        self, parsed: ParsedQuery, caller: Caller, limit: int | None, on_start: OnStart | None, source: Any
    ) -> QueryResult:
        if parsed.kind == "show_tables":
            return visible_tables(caller, self.catalogue.tables())
        cap = min(limit or self.config.max_rows, self.config.max_rows)
        with self.slots.hold(caller.key_id):
            if self.dialect == "postgres":
                return self._run_postgres(parsed, cap, on_start)
            return self._run_duckdb(source, parsed, cap, on_start)

    def _run_duckdb(self, source: Any, parsed: ParsedQuery, cap: int, on_start: OnStart | None) -> QueryResult:
        import duckdb

        cur = source.cursor().cursor()  # its own connection: an interrupt hits this query only
        handle = Running(interrupt=cur.interrupt)
        try:
            with self._tracked(handle, on_start):
                cur.execute(parsed.sql)  # streams: fetchmany computes only the rows it returns
                columns = [d[0] for d in cur.description or []]
                fetched = cur.fetchmany(cap + 1)
            return QueryResult(columns=columns, rows=[list(r) for r in fetched[:cap]], truncated=len(fetched) > cap)
        except duckdb.Error as exc:
            raise self._failure(handle, exc) from exc
        finally:
            cur.close()

    def _run_postgres(self, parsed: ParsedQuery, cap: int, on_start: OnStart | None) -> QueryResult:
        import psycopg

        conn = psycopg.connect(self.warehouse.url, autocommit=False)
        handle = Running(interrupt=conn.cancel)
        try:
            with self._tracked(handle, on_start):
                conn.execute("SET TRANSACTION READ ONLY")
                conn.execute(f"SET LOCAL statement_timeout = {int(self.config.time_limit_s * 1000)}")
                cur = conn.execute(parsed.sql)
                columns = [d.name for d in cur.description or []]
                fetched = cur.fetchmany(cap + 1)
            return QueryResult(columns=columns, rows=[list(r) for r in fetched[:cap]], truncated=len(fetched) > cap)
        except psycopg.errors.QueryCanceled as exc:
            handle.reason = handle.reason or "timeout"
            raise self._failure(handle, exc) from exc
        except psycopg.Error as exc:
            raise self._failure(handle, exc) from exc
        finally:
            with contextlib.suppress(psycopg.Error):  # a cancelled or broken connection: just close it
                conn.rollback()
            conn.close()

    def _tracked(self, handle: Running, on_start: OnStart | None) -> _Tracked:
        return _Tracked(self, handle, on_start)

    def _failure(self, handle: Running, exc: Exception) -> HexlakeError:
        if handle.reason == "timeout":
            return QueryTimeout(
                f"the query ran longer than {self.config.time_limit_s:g} s and was stopped "
                "(query.time_limit_s); narrow it or aggregate first",
                field="sql",
            )
        if handle.reason:
            return QueryCancelled(f"the query was cancelled: {handle.reason}", field="sql")
        return BadRequest(f"query failed: {str(exc).splitlines()[0]}", field="sql")

    def _default_schema(self) -> str:
        return "public" if self.dialect == "postgres" else "main"

    def _load_catalogue(self) -> list[tuple[str, str, str]]:
        if self.dialect == "postgres":
            sql = _CATALOGUE_SQL.replace("current_database()", "current_database()::text")
            return [tuple(r) for r in self.warehouse.cursor().execute(sql).fetchall()]
        rows = [(str(s), str(t), str(c)) for s, t, c in self.warehouse.cursor().execute(_CATALOGUE_SQL).fetchall()]
        if self.landing is None:
            return rows
        self._model_tables = {(s.lower(), t.lower()) for s, t, _ in rows}
        landing = [(str(s), str(t), str(c)) for s, t, c in self.landing.cursor().execute(_CATALOGUE_SQL).fetchall()]
        # the landing file's own model schemas (a DuckDB build before Spark was chosen) stay hidden
        hidden = {s.lower() for s, _, _ in rows} | {
            s.lower()[9:] for s, _, _ in landing if s.lower().startswith("sqlmesh__")
        }
        return rows + [r for r in landing if r[0].lower() not in hidden]


class _Tracked:
    """While a query runs: its handle is cancellable (shutdown, disconnect) and the watchdog is armed."""

    #: how often a cancelled query that is still running is interrupted again
    REINTERRUPT_S = 0.05

    def __init__(self, sandbox: QuerySandbox, handle: Running, on_start: OnStart | None):
        self.sandbox, self.handle, self.on_start = sandbox, handle, on_start
        self.ended = False
        self.again: list[Any] | None = None

    def __enter__(self) -> Running:
        with self.sandbox._lock:
            self.sandbox._handles[id(self.handle)] = self.handle
        self.handle.persist = self._interrupt_again
        self.timer = self.sandbox.watchdog.arm(self.sandbox.config.time_limit_s, lambda: self.handle.cancel("timeout"))
        if self.on_start is not None:
            self.on_start(self.handle)
        return self.handle

    def _interrupt_again(self) -> None:
        """Re-arm until the query ends: a cancel that came before the query started still stops it."""
        if not self.ended:
            self.again = self.sandbox.watchdog.arm(self.REINTERRUPT_S, self._repeat)

    def _repeat(self) -> None:
        if self.ended:
            return
        with contextlib.suppress(Exception):  # the query may end (and its connection close) meanwhile
            self.handle.interrupt()
        self._interrupt_again()

    def __exit__(self, *exc: object) -> None:
        self.ended = True
        Watchdog.disarm(self.timer)
        if self.again is not None:
            Watchdog.disarm(self.again)
        with self.sandbox._lock:
            self.sandbox._handles.pop(id(self.handle), None)


def models_reader(runtime: Runtime) -> Any:
    """Where the models are read: the warehouse, or with ``HEXLAKE_WAREHOUSE_URL=spark://…`` the
    tables Spark built, through DuckDB (``hexlake.warehouse.sparkmodels``)."""
    from hexlake.warehouse import get_warehouse

    if not runtime.settings.resolved_warehouse_url().startswith("spark://"):
        return get_warehouse(runtime)
    from hexlake.warehouse.sparkmodels import SparkModels

    return runtime.resource(
        "warehouse.spark_models", lambda rt: SparkModels(rt.paths.spark_warehouse, rt.settings.query.memory_limit)
    )


def get_sandbox(runtime: Runtime) -> QuerySandbox:
    """The process's sandbox over its models' reader (hardens a DuckDB warehouse on first use)."""
    from hexlake.warehouse import get_warehouse

    def build(rt: Runtime) -> QuerySandbox:
        models = models_reader(rt)
        landing = get_warehouse(rt)
        return QuerySandbox(models, rt.settings.query, get_audit_log(rt), None if models is landing else landing)

    return runtime.resource("query.sandbox", build)


__all__ = ["QuerySandbox", "get_sandbox", "models_reader"]
