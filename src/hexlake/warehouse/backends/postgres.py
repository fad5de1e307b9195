"""The warehouse on PostgreSQL (``HEXLAKE_WAREHOUSE_URL=postgresql://…``) and its raw loader.

DuckDB lets one process write its file; PostgreSQL lets any number of ``hexlake worker`` processes
load raw events at once. Statements use ``?`` placeholders like DuckDB and are translated to
psycopg's ``%s``.

``raw_events`` here is one table with a UNIQUE index on ``event_id``: the loader COPYs a batch into
a temporary table and inserts it with ``ON CONFLICT (event_id) DO NOTHING``, so concurrent loaders
and redeliveries can never store an event twice. PostgreSQL parses the JSON payloads itself
(``jsonb``), as DuckDB does with ``from_json`` in the embedded loader.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, ClassVar

import psycopg
import pyarrow as pa

from hexlake.errors import BadRequest, WarehouseError
from hexlake.log.protocol import EventLog, LogMessage
from hexlake.warehouse import intervals, pg_dsn
from hexlake.warehouse.config import WarehouseConfig
from hexlake.warehouse.frames import sort_out_poison
from hexlake.warehouse.loader import LoaderBase
from hexlake.warehouse.protocol import Params, Row, last_per_key
from hexlake.warehouse.readonly import check_read_only
from hexlake.warehouse.schema import RAW_EVENTS_COLUMNS

#: DuckDB type names of the shared DDL -> PostgreSQL ones.
PG_TYPES = {"DOUBLE": "DOUBLE PRECISION", "JSON": "JSONB"}


def pg_type(duck_type: str) -> str:
    head, _, rest = duck_type.partition(" ")
    return " ".join(filter(None, [PG_TYPES.get(head, head), rest]))


RAW_EVENTS_PG_DDL = (
    "CREATE TABLE IF NOT EXISTS raw_events (\n    "
    + ",\n    ".join(f"{name} {pg_type(typ)}" for name, typ in RAW_EVENTS_COLUMNS)
    + "\n)"
)
RAW_EVENTS_PG_INDEXES = [
    "CREATE UNIQUE INDEX IF NOT EXISTS raw_events_event_id ON raw_events (event_id)",
    "CREATE INDEX IF NOT EXISTS raw_events_load_date ON raw_events (load_date)",
    "CREATE INDEX IF NOT EXISTS raw_events_ts ON raw_events (ts)",
]
RAISE_FN = (
    "CREATE OR REPLACE FUNCTION hexlake_raise(msg text) RETURNS text LANGUAGE plpgsql AS "
    "$$ BEGIN RAISE EXCEPTION '%', msg; END $$"
)

_EXPR = {
    "event_id": "CASE WHEN j->>'event_id' IS DISTINCT FROM s.event_id THEN hexlake_raise("
                "'payload event_id differs from the log message event_id ' || s.event_id) "
                "ELSE j->>'event_id' END",
    "schema_version": "(j->>'schema_version')::integer",
    "ts": "(j->>'ts')::timestamptz AT TIME ZONE 'UTC'",
    "received_at": "(j->>'received_at')::timestamptz AT TIME ZONE 'UTC'",
    "properties": "COALESCE(j->'properties', '{}'::jsonb)",
    "context": "COALESCE(j->'context', '{}'::jsonb)",
    "consent": "COALESCE(j->'consent', '{}'::jsonb)",
    "lat": "(j->>'lat')::double precision",
    "lng": "(j->>'lng')::double precision",
    "accuracy_m": "(j->>'accuracy_m')::double precision",
    "log_offset": "s.log_offset",
    "load_date": "%(load_date)s",
    "loaded_at": "%(loaded_at)s",
}


def pg_insert_sql() -> str:
    names = [name for name, _ in RAW_EVENTS_COLUMNS]
    exprs = [_EXPR.get(n, f"j->>'{n}'") for n in names]
    return (
        f"INSERT INTO raw_events ({', '.join(names)})\n"
        f"SELECT {', '.join(exprs)}\n"
        "FROM (SELECT DISTINCT ON (event_id) convert_from(payload, 'UTF8')::jsonb AS j, log_offset, event_id "
        "FROM hexlake_staged ORDER BY event_id, log_offset) AS s\n"
        "ON CONFLICT (event_id) DO NOTHING"
    )


_QMARK = re.compile(r"\?(?=(?:[^']*'[^']*')*[^']*$)")


def to_pg_params(sql: str, params: Params) -> str:
    """DuckDB-style ``?`` placeholders (outside quotes) -> ``%s``; literal ``%`` doubled."""
    if params is None or isinstance(params, dict):
        return sql
    return _QMARK.sub("%s", sql.replace("%", "%%"))


class PgCursor:
    """A small DuckDB-cursor look-alike over one psycopg connection (``execute`` then fetch)."""

    def __init__(self, conn: psycopg.Connection):
        self._conn = conn
        self._cur = conn.cursor()

    def execute(self, sql: str, params: Params = None) -> PgCursor:
        self._cur.execute(to_pg_params(sql, params), params)
        return self

    def executemany(self, sql: str, rows: Sequence[Row]) -> PgCursor:
        self._cur.executemany(to_pg_params(sql, rows[0] if rows else []), rows)
        return self

    def fetchone(self) -> tuple[Any, ...] | None:
        return self._cur.fetchone()

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self._cur.fetchall()

    @property
    def description(self) -> Any:
        return self._cur.description

    def fetch_arrow_table(self) -> pa.Table:
        names = [d.name for d in self._cur.description or []]
        rows = self._cur.fetchall()
        return pa.table({n: [r[i] for r in rows] for i, n in enumerate(names)}) if names else pa.table({})

    def close(self) -> None:
        self._cur.close()


class PostgresWarehouse:
    """A PostgreSQL database used as the warehouse; thread-safe (a connection per thread)."""

    dialect: ClassVar[str] = "postgres"
    SUPPORTS_ARROW_SCAN: ClassVar[bool] = False
    SUPPORTS_CONCURRENT_WRITERS: ClassVar[bool] = True
    SUPPORTS_DECLARATIVE_PARTITIONS: ClassVar[bool] = True

    def __init__(self, url: str):
        self.url = pg_dsn(url)
        self.path = self.url
        self._local = threading.local()
        self._conns: list[psycopg.Connection] = []
        self._lock = threading.Lock()
        self._closed = False
        self.shared: dict[str, object] = {}
        with _translate("connect"):
            self.connection()

    def connection(self) -> psycopg.Connection:
        """This thread's autocommit connection."""
        conn: psycopg.Connection | None = getattr(self._local, "conn", None)
        if conn is None or conn.closed:
            if self._closed:
                raise WarehouseError(f"the warehouse {self.url} is closed")
            conn = psycopg.connect(self.url, autocommit=True)
            with self._lock:
                self._conns.append(conn)
            self._local.conn = conn
        return conn

    def cursor(self) -> PgCursor:
        return PgCursor(self.connection())

    def execute(self, sql: str, params: Params = None) -> None:
        """Run a statement; DDL waits for other processes' DDL (``CREATE … IF NOT EXISTS`` races otherwise)."""
        with _translate("statement"):
            if sql.lstrip()[:6].upper() not in ("CREATE", "ALTER "):
                self.cursor().execute(sql, params)
                return
            conn = self.connection()
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(hashtext('hexlake:warehouse:ddl'))")
                PgCursor(conn).execute(sql, params)

    def query_arrow(self, sql: str, params: Params = None) -> pa.Table:
        with _translate("query"):
            return self.cursor().execute(sql, params).fetch_arrow_table()

    def read_query(self, sql: str, params: Params = None, limit: int | None = None) -> pa.Table:
        """One read-only statement from a user, run in a READ ONLY transaction; at most ``limit`` rows."""
        check_read_only(sql)
        conn = self.connection()
        try:
            with conn.transaction():
                conn.execute("SET TRANSACTION READ ONLY")
                cur = PgCursor(conn).execute(sql, params)
                table = cur.fetch_arrow_table()
        except psycopg.Error as exc:
            raise BadRequest(f"query failed: {exc}", field="sql") from exc
        return table if limit is None else table.slice(0, limit)

    def ensure_raw_tables(self) -> None:
        with _translate("create raw tables"):
            conn = self.connection()
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(hashtext('hexlake:warehouse:ddl'))")
                for sql in [RAW_EVENTS_PG_DDL, *RAW_EVENTS_PG_INDEXES, RAISE_FN]:
                    conn.execute(sql)

    def column_type(self, canonical: str) -> str:
        return pg_type(canonical)

    def insert_rows(self, table: str, columns: Sequence[str], rows: Sequence[Row],
                    then: Sequence[tuple[str, Params]] = ()) -> None:
        """COPY the rows, then run ``then``, in one transaction."""
        conn = self.connection()
        with _translate(f"insert into {table}"), conn.transaction():
            self._copy(conn, table, columns, rows)
            for sql, params in then:
                conn.execute(to_pg_params(sql, params), params)

    def upsert_rows(self, table: str, columns: Sequence[str], rows: Sequence[Row], key: Sequence[str]) -> int:
        """COPY into a temporary twin of ``table``, then ``INSERT … ON CONFLICT (key) DO UPDATE``."""
        rows = last_per_key(columns, rows, key)
        if not rows:
            return 0
        names = ", ".join(f'"{c}"' for c in columns)
        updates = ", ".join(f'"{c}" = EXCLUDED."{c}"' for c in columns if c not in key)
        conflict = ", ".join(f'"{k}"' for k in key)
        staged = f"hexlake_upsert_{table}"
        conn = self.connection()
        with _translate(f"upsert into {table}"), conn.transaction():
            conn.execute(f'CREATE TEMP TABLE IF NOT EXISTS "{staged}" (LIKE "{table}") ON COMMIT DELETE ROWS')
            self._copy(conn, staged, columns, rows)
            conn.execute(f'INSERT INTO "{table}" ({names}) SELECT {names} FROM "{staged}" '
                         f"ON CONFLICT ({conflict}) DO " + (f"UPDATE SET {updates}" if updates else "NOTHING"))
        return len(rows)

    @staticmethod
    def _copy(conn: psycopg.Connection, table: str, columns: Sequence[str], rows: Sequence[Row]) -> None:
        names = ", ".join(f'"{c}"' for c in columns)
        with conn.cursor().copy(f'COPY "{table}" ({names}) FROM STDIN') as copy:
            for row in rows:
                copy.write_row(row)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for conn in self._conns:
                conn.close()
            self._conns.clear()


class PostgresRawLoader(LoaderBase):
    """The raw loader for a PostgreSQL warehouse: COPY + ``INSERT … ON CONFLICT DO NOTHING``."""

    _PG_SQL = pg_insert_sql()

    def __init__(self, log: EventLog, warehouse: PostgresWarehouse, config: WarehouseConfig | None = None,
                 group: str = "raw_loader", **kwargs: Any):
        super().__init__(log, warehouse, config, group, **kwargs)
        self.pg = warehouse
        intervals.ensure(warehouse)  # ops.load_touches, before the first batch's transaction

    def load_batch(self, messages: Sequence[LogMessage]) -> tuple[int, int]:
        try:
            inserted, good, poisoned = self._insert(messages), messages, 0
        except psycopg.Error as exc:
            good, bad = sort_out_poison(messages)
            if not bad:
                raise WarehouseError(f"loading {len(messages)} events into raw_events failed: {exc}") from exc
            self.bury_poison(bad)  # undecodable: dead-lettered at once, never retried
            inserted, poisoned = (self._insert(good) if good else 0), len(bad)
        self.log.ack(self.group, [m.offset for m in good])
        return inserted, poisoned

    def _insert(self, messages: Sequence[LogMessage]) -> int:
        now = datetime.fromtimestamp(self._clock(), UTC).replace(tzinfo=None)
        conn = self.pg.connection()
        with conn.transaction():
            conn.execute("CREATE TEMP TABLE IF NOT EXISTS hexlake_staged "
                         "(log_offset bigint, event_id text, payload bytea) ON COMMIT DELETE ROWS")
            with conn.cursor().copy("COPY hexlake_staged FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(["int8", "text", "bytea"])
                for m in messages:
                    copy.write_row((m.offset, m.event_id, m.payload))
            cur = conn.execute(self._PG_SQL, {"load_date": now.date(), "loaded_at": now})
            self._record_days(conn, now)  # the batch's event-time days, for the transform's restatement
            return max(cur.rowcount, 0)

    def _record_days(self, conn: psycopg.Connection, now: datetime) -> None:
        conn.execute(intervals.PG_RECORD_SQL, {"loaded_at": now})


def connect(url: str) -> PostgresWarehouse:
    """``postgresql://user@host:port/database``."""
    return PostgresWarehouse(url)


@contextmanager
def _translate(what: str) -> Iterator[None]:
    try:
        yield
    except psycopg.Error as exc:
        raise WarehouseError(f"PostgreSQL warehouse {what} failed: {exc}") from exc


__all__ = ["PgCursor", "PostgresRawLoader", "PostgresWarehouse", "connect", "pg_type"]
