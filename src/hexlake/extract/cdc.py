"""Change data capture from PostgreSQL: logical replication with the built-in ``pgoutput`` plugin.

Each extracted table gets a publication and a logical replication slot (``hexlake_<source>_<table>``,
created on the first run, which also copies the table as a snapshot). Every later run reads the
slot's changes with ``pg_logical_slot_peek_binary_changes`` and decodes pgoutput's binary messages
(Relation, Insert, Update, Delete) here, so updates without an ``updated_at`` column and hard
deletes are captured. Rows land with two more columns: ``_cdc_op`` (``s`` snapshot, ``i``, ``u``,
``d``; a delete carries only the key) and ``_cdc_lsn``, the cursor: the transaction's commit LSN
× 1024 + the change's position in it (capped at 1023), so changes order as they committed.

Exactly once: the slot is only advanced, at the start of the next run, to just before the
transaction of the high-water mark that committed in the warehouse with the rows; changes at or
below the mark are skipped. Needs
``wal_level = logical`` on the source. ``drop_cdc`` removes a table's slot and publication.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterator, Sequence
from datetime import date, datetime
from typing import Any

from hexlake.extract.errors import ExtractConfigError, ExtractError
from hexlake.extract.sources import Column, PostgresSource, _pg_type, check_ident

CDC_COLUMNS = [Column("_cdc_op", "VARCHAR"), Column("_cdc_lsn", "BIGINT")]
CURSOR = "_cdc_lsn"
SEQ = 1024  # changes per transaction that get their own cursor value


def slot_name(dbname: str, source: str, table: str) -> str:
    """``hexlake_<source>_<table>_<db hash>``: replication slots are cluster-wide, so two databases
    (or two hexlake installs naming their sources alike) must never share one."""
    digest = hashlib.sha256(dbname.encode()).hexdigest()[:8]
    return check_ident(f"hexlake_{source}_{table}".lower()[:54] + f"_{digest}", "tables")


def lsn_int(text: str) -> int:
    hi, _, lo = text.partition("/")
    return (int(hi, 16) << 32) | int(lo, 16)


def lsn_text(value: int) -> str:
    return f"{value >> 32:X}/{value & 0xFFFFFFFF:X}"


def parse_array(text: str) -> list[str | None]:
    """A one-dimensional PostgreSQL array literal (``{a,"b c",NULL}``) as a list of strings."""
    body, i = text[1:-1], 0
    out: list[str | None] = []
    while i < len(body):
        if body[i] == '"':
            j, buf = i + 1, []
            while body[j] != '"':
                if body[j] == "\\":
                    j += 1
                buf.append(body[j])
                j += 1
            out.append("".join(buf))
            i = j + 2
        else:
            j = body.find(",", i)
            j = len(body) if j < 0 else j
            item = body[i:j]
            out.append(None if item == "NULL" else item)
            i = j + 1
    return out


def from_text(value: str | None, typ: str, is_array: bool) -> Any:
    """pgoutput's text form of a value as the Python value a SELECT would give."""
    if value is None:
        return None
    if is_array:
        return parse_array(value)
    if typ == "BIGINT":
        return int(value)
    if typ == "DOUBLE":
        return float(value)
    if typ == "BOOLEAN":
        return value == "t"
    if typ == "TIMESTAMP":
        return datetime.fromisoformat(value)
    if typ == "DATE":
        return date.fromisoformat(value)
    return value


class _Reader:
    """Cursor over one pgoutput message."""

    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def take(self, fmt: str) -> Any:
        (value,) = struct.unpack_from("!" + fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return value

    def string(self) -> str:
        end = self.data.index(b"\0", self.pos)
        text = self.data[self.pos:end].decode()
        self.pos = end + 1
        return text

    def tuple(self) -> list[str | None]:
        values: list[str | None] = []
        for _ in range(self.take("h")):
            kind = self.take("c")
            if kind == b"t":
                size = self.take("i")
                values.append(self.data[self.pos:self.pos + size].decode())
                self.pos += size
            else:  # n: NULL; u: an unchanged TOAST value pgoutput does not resend
                values.append(None)
        return values


def decode(messages: Iterator[tuple[str, bytes]], relations: dict[int, tuple[str, list[str]]]
           ) -> Iterator[tuple[int, str, str, dict[str, str | None]]]:
    """``(cursor, table, op, values by column)`` for each row change; ``relations`` is filled as
    Relation messages arrive (a slot sends one before the first change of a table in a session)."""
    commit, seq = 0, 0
    for _, data in messages:
        r = _Reader(data)
        kind = r.take("c")
        if kind == b"B":
            commit, seq = r.take("Q"), 0
        elif kind == b"R":
            oid = r.take("I")
            r.string()  # namespace
            name = r.string()
            r.take("b")  # replica identity
            cols = []
            for _ in range(r.take("h")):
                r.take("b")
                cols.append(r.string())
                r.take("I")
                r.take("i")
            relations[oid] = (name, cols)
        elif kind in (b"I", b"U", b"D"):
            name, cols = relations[r.take("I")]
            marker = r.take("c")
            if kind == b"U" and marker in (b"K", b"O"):
                r.tuple()
                marker = r.take("c")
            values = r.tuple()
            yield commit * SEQ + min(seq, SEQ - 1), name, kind.decode().lower(), dict(zip(cols, values, strict=False))
            seq += 1


class PostgresCdcSource(PostgresSource):
    """A PostgreSQL source read through a logical replication slot per table."""

    def __init__(self, url: str, name: str):
        super().__init__(url, name)
        level = self._conn.execute("SHOW wal_level").fetchone()
        self._conn.rollback()
        if not level or level[0] != "logical":
            raise ExtractConfigError(
                f"change data capture needs wal_level = logical on the source (it is {level[0] if level else '?'}): "
                "ALTER SYSTEM SET wal_level = logical, then restart PostgreSQL", field="cdc")
        self._arrays: dict[str, set[str]] = {}

    def slot(self, table: str) -> str:
        return slot_name(self._conn.info.dbname, self.name, table)

    def columns(self, table: str) -> list[Column]:
        types = self._column_types(table)
        self._arrays[table] = {n for n, t in types if t.upper() == "ARRAY"}
        return [*[Column(n, _pg_type(t)) for n, t in types], *CDC_COLUMNS]

    def batches(self, table: str, columns: Sequence[str], cursor: str | None, after: Any,
                size: int) -> Iterator[list[tuple[Any, ...]]]:
        if cursor != CURSOR:
            raise ExtractConfigError("change data capture uses its own cursor (_cdc_lsn); drop --cursor",
                                     field="cursor")
        slot = self.slot(table)
        exists = self._conn.execute("SELECT 1 FROM pg_replication_slots WHERE slot_name = %s", (slot,)).fetchone()
        self._conn.commit()
        if after is None or not exists:
            yield from self._snapshot(table, columns, slot, size)
            return
        yield from self._changes(table, columns, slot, int(after), size)

    def _snapshot(self, table: str, columns: Sequence[str], slot: str,
                  size: int) -> Iterator[list[tuple[Any, ...]]]:
        """First run: publication and slot, then every row as ``s`` at the slot's start position
        (a change made during the copy is also replayed later, with a higher LSN: it wins)."""
        self._conn.autocommit = True
        try:
            if not self._conn.execute("SELECT 1 FROM pg_publication WHERE pubname = %s", (slot,)).fetchone():
                self._conn.execute(f'CREATE PUBLICATION "{slot}" FOR TABLE "{table}"')
            self._conn.execute("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                               "WHERE slot_name = %s", (slot,))
            row = self._conn.execute("SELECT lsn::text FROM pg_create_logical_replication_slot(%s, 'pgoutput')",
                                     (slot,)).fetchone()
        finally:
            self._conn.autocommit = False
        start = (lsn_int(row[0]) if row else 0) * SEQ
        plain = [c for c in columns if c not in ("_cdc_op", "_cdc_lsn")]
        for batch in super().batches(table, plain, None, None, size):
            yield [(*r, "s", start) for r in batch]

    def _changes(self, table: str, columns: Sequence[str], slot: str, after: int,
                 size: int) -> Iterator[list[tuple[Any, ...]]]:
        try:
            # to just before the mark's transaction: it is sent again whole, its landed changes skipped
            self._conn.execute("SELECT pg_replication_slot_advance(slot_name, %s::pg_lsn) FROM pg_replication_slots "
                               "WHERE slot_name = %s AND confirmed_flush_lsn < %s::pg_lsn",
                               (lsn_text(after // SEQ - 1), slot, lsn_text(after // SEQ - 1)))
            rows = self._conn.execute(
                "SELECT lsn::text, data FROM pg_logical_slot_peek_binary_changes(%s, NULL, NULL, "
                "'proto_version', '1', 'publication_names', %s)", (slot, slot)).fetchall()
            self._conn.commit()
        except Exception as exc:
            self._conn.rollback()
            raise ExtractError(f"reading the replication slot {slot} failed: {exc}", field="cdc") from exc
        types = {c.name: c.type for c in self.columns(table)}
        arrays = self._arrays.get(table, set())
        batch: list[tuple[Any, ...]] = []
        for lsn, name, op, values in decode(((t, bytes(d)) for t, d in rows), {}):
            if name != table or lsn <= after:
                continue
            row = {c: from_text(values.get(c), types[c], c in arrays) for c in columns if c in values}
            row.update(_cdc_op=op, _cdc_lsn=lsn)
            batch.append(tuple(row.get(c) for c in columns))
            if len(batch) >= size:
                yield batch
                batch = []
        if batch:
            yield batch


def drop_cdc(url: str, name: str, table: str) -> None:
    """Remove a table's slot and publication (an unused slot keeps WAL on the source forever)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        slot = slot_name(conn.info.dbname, name, table)
        conn.execute("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = %s",
                     (slot,))
        conn.execute(f'DROP PUBLICATION IF EXISTS "{check_ident(slot, "tables")}"')


__all__ = [
    "CDC_COLUMNS",
    "CURSOR",
    "PostgresCdcSource",
    "decode",
    "drop_cdc",
    "lsn_int",
    "lsn_text",
    "parse_array",
    "slot_name",
]
