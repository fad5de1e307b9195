"""The sandbox that runs user SQL (``POST /v1/query``, ``hexlake query``): safe by construction.

Two walls, each enough on its own for the attacks we know of:

1. The statement allowlist (``hexlake.warehouse.readonly``): one read statement, functions from a
   list, plain table names the caller may read; what runs is the SQL re-generated from the parse.
2. The DuckDB database itself (``harden``): external access off (no file, URL, ATTACH, COPY),
   extension install/autoload off, community extensions off, a memory limit, and the configuration
   locked so no statement can switch any of it back. DuckDB keeps these settings per database, not
   per connection, and the server holds one database per file (one writer), so the whole warehouse
   is hardened when it is opened: hexlake's own code loads through registered Arrow tables and never
   reads files through DuckDB.

On top: a time limit (``connection.interrupt()`` from a watchdog thread; also on client disconnect
and at shutdown), concurrency caps per key and in total (429 + ``Retry-After``), and a row cap that
says it truncated. Each user query gets its own DuckDB connection, closed afterwards, so an
interrupt can never hit another query. Every query is audited (``hexlake.ops.audit``).
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hexlake.errors import BadRequest, Forbidden, TooManyRequests
from hexlake.warehouse.readonly import ParsedQuery, QueryRefused

# Schemas and tables hexlake keeps for itself: invisible to read keys.
INTERNAL_SCHEMAS = frozenset({"ops", "information_schema", "pg_catalog", "temp", "system"})
_INTERNAL_PREFIXES = ("sqlmesh", "_", "hexlake_")
CATALOGUE_TTL_S = 2.0

HARDENING = (
    "SET enable_external_access = false",
    "SET autoinstall_known_extensions = false",
    "SET autoload_known_extensions = false",
    "SET allow_community_extensions = false",
    "SET allow_unsigned_extensions = false",
)


class QueryTimeout(BadRequest):
    """The query ran past ``query.time_limit_s`` and was interrupted (400)."""


class QueryCancelled(BadRequest):
    """The client went away (or the server is stopping) and the query was interrupted."""


def harden(cursor: Any, memory_limit: str, readable_dirs: Sequence[Path] = ()) -> None:
    """Lock down a DuckDB database for user SQL (settings are database-wide; see the module doc).

    ``readable_dirs`` (the cold tier's lake folder) stay readable by the database's own views; user
    SQL still cannot name a file, because the parser never lets a string become a table.
    """
    locked = cursor.execute("SELECT current_setting('lock_configuration')").fetchone()[0]
    if locked:
        return
    if readable_dirs:  # before external access goes off, which freezes the list
        cursor.execute("SET allowed_directories = ?", [[f"{d.resolve()}/" for d in readable_dirs]])
    for statement in HARDENING:
        cursor.execute(statement)
    cursor.execute("SET memory_limit = ?", [memory_limit])
    cursor.execute("SET lock_configuration = true")


@dataclass(frozen=True)
class Caller:
    """Who runs a query, as far as the sandbox cares (built from the request's principal)."""

    key_id: str
    kind: str  # admin | read
    marts: frozenset[str] | None = None
    columns: frozenset[str] | None = None
    via: str = "api"

    @classmethod
    def from_principal(cls, principal: Any, via: str = "api") -> Caller:
        """Read a ``Principal`` (or anything with the same attributes) defensively."""
        return cls(key_id=str(getattr(principal, "key_id", "unknown")), kind=str(getattr(principal, "kind", "read")),
                   marts=getattr(principal, "marts", None), columns=getattr(principal, "columns", None), via=via)

    def may_read(self, schema: str, name: str) -> bool:
        if self.kind == "admin":
            return True
        if self.kind != "read" or is_internal(schema, name):
            return False
        return self.marts is None or name in self.marts or f"{schema}.{name}" in self.marts

    def may_read_column(self, table: str, column: str) -> bool:
        if self.kind == "admin" or self.columns is None:
            return True
        return column in self.columns or f"{table}.{column}" in self.columns


CLI_CALLER = Caller(key_id="cli", kind="admin", via="cli")


def is_internal(schema: str, name: str) -> bool:
    schema, name = schema.lower(), name.lower()
    return schema in INTERNAL_SCHEMAS or schema.startswith(_INTERNAL_PREFIXES) or name.startswith(_INTERNAL_PREFIXES)


@dataclass
class QueryResult:
    columns: list[str]
    rows: list[list[Any]]
    truncated: bool
    tables: list[str] = field(default_factory=list)

    def to_response(self) -> dict[str, Any]:
        return {"columns": self.columns, "rows": self.rows, "truncated": self.truncated}


class Slots:
    """Concurrency caps: at most ``total`` queries at once, ``per_key`` per key; 429 beyond."""

    def __init__(self, total: int, per_key: int):
        self.total, self.per_key = total, per_key
        self._lock = threading.Lock()
        self._running: dict[str, int] = {}

    @contextmanager
    def hold(self, key_id: str) -> Iterator[None]:
        with self._lock:
            if sum(self._running.values()) >= self.total:
                raise TooManyRequests(f"{self.total} queries are running; retry shortly", retry_after=1)
            if self._running.get(key_id, 0) >= self.per_key:
                raise TooManyRequests(f"this key already runs {self.per_key} queries; retry shortly", retry_after=1)
            self._running[key_id] = self._running.get(key_id, 0) + 1
        try:
            yield
        finally:
            with self._lock:
                self._running[key_id] -= 1
                if not self._running[key_id]:
                    del self._running[key_id]


class Watchdog:
    """One thread that calls ``fn`` at each armed deadline unless disarmed first (no thread per query)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, list[Any]]] = []
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None

    def arm(self, delay_s: float, fn: Callable[[], None]) -> list[Any]:
        entry: list[Any] = [fn]
        with self._cond:
            heapq.heappush(self._heap, (time.monotonic() + delay_s, next(self._seq), entry))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="hexlake-query-watchdog", daemon=True)
                self._thread.start()
            if self._heap[0][2] is entry:  # only an earlier deadline needs the thread to wake up
                self._cond.notify()
        return entry

    @staticmethod
    def disarm(entry: list[Any]) -> None:
        entry[0] = None

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._heap or self._heap[0][0] > time.monotonic():
                    self._cond.wait(self._heap[0][0] - time.monotonic() if self._heap else None)
                _, _, entry = heapq.heappop(self._heap)
            fn = entry[0]
            if fn is not None:
                fn()


@dataclass
class Running:
    """A query in flight: ``cancel()`` interrupts it (client gone, server stopping)."""

    interrupt: Callable[[], None]
    reason: str = ""
    #: called once by the first ``cancel()``: keeps interrupting until the query has ended, since an
    #: interrupt that lands before the database started the query is lost (the query would then run
    #: unbounded, and a DuckDB connection cannot even be closed under it)
    persist: Callable[[], None] | None = None

    def cancel(self, reason: str = "cancelled") -> None:
        if not self.reason:
            self.reason = reason
            self.interrupt()
            if self.persist is not None:
                self.persist()


class Catalogue:
    """The warehouse's tables and their columns, refreshed every ``CATALOGUE_TTL_S`` seconds."""

    def __init__(self, load: Callable[[], list[tuple[str, str, str]]]):
        self._load = load
        self._lock = threading.Lock()
        self._tables: dict[tuple[str, str], list[str]] = {}
        self._at = float("-inf")

    def tables(self) -> dict[tuple[str, str], list[str]]:
        with self._lock:
            if time.monotonic() - self._at > CATALOGUE_TTL_S:
                tables: dict[tuple[str, str], list[str]] = {}
                for schema, name, column in self._load():
                    tables.setdefault((schema.lower(), name.lower()), []).append(column)
                self._tables, self._at = tables, time.monotonic()
            return self._tables


def authorise(parsed: ParsedQuery, caller: Caller, catalogue: dict[tuple[str, str], list[str]],
              default_schema: str) -> list[str]:
    """Check every table (and column, for column-limited keys) against the caller; the tables' names."""
    names: list[str] = []
    columns_of: dict[str, list[str]] = {}
    for ref in parsed.tables:
        key = (ref.schema or default_schema, ref.name.lower())
        if key not in catalogue or not caller.may_read(*key):
            raise QueryRefused(f"query refused: table {str(ref)!r} does not exist or this key may not read it",
                               field="sql")
        names.append(f"{key[0]}.{key[1]}")
        columns_of[key[1]] = catalogue[key]
    if caller.columns is not None and caller.kind != "admin":
        _check_columns(parsed, caller, columns_of)
    return names


def _check_columns(parsed: ParsedQuery, caller: Caller, columns_of: dict[str, list[str]]) -> None:
    if parsed.has_star or parsed.kind in ("describe", "summarize"):
        raise QueryRefused("query refused: this key may read only some columns; name them (no *, #n, "
                           "column-renaming aliases, DESCRIBE or SUMMARIZE)", field="sql")
    for column in parsed.columns:
        if column in columns_of or column in parsed.row_names:
            raise QueryRefused(f"query refused: {column!r} names a whole row; name the columns", field="sql")
        for table, cols in columns_of.items():
            if column in {c.lower() for c in cols} and not caller.may_read_column(table, column):
                raise QueryRefused(f"query refused: this key may not read column {table}.{column}", field="sql")


def visible_tables(caller: Caller, catalogue: dict[tuple[str, str], list[str]]) -> QueryResult:
    """``SHOW TABLES`` answered from the catalogue, so hidden tables stay hidden."""
    rows = sorted([schema, name] for schema, name in catalogue if caller.may_read(schema, name))
    return QueryResult(columns=["schema", "name"], rows=[list(r) for r in rows], truncated=False)


def check_forbidden_kind(caller: Caller) -> None:
    if caller.kind not in ("admin", "read"):
        raise Forbidden(f"a {caller.kind} key cannot run SQL; use a read key")


__all__ = [
    "CLI_CALLER",
    "HARDENING",
    "INTERNAL_SCHEMAS",
    "Caller",
    "Catalogue",
    "QueryCancelled",
    "QueryResult",
    "QueryTimeout",
    "Running",
    "Slots",
    "Watchdog",
    "authorise",
    "check_forbidden_kind",
    "harden",
    "is_internal",
    "visible_tables",
]
