"""Change data capture through logical replication (pgoutput): updates without updated_at, hard
deletes and multi-change transactions reach staging; slots and publications are cleaned up.

The source is a database on the tests' own PostgreSQL cluster with wal_level = logical
(``logical_pg_url``, tests/extract/conftest.py): the machine's PostgreSQL is left as it is."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from hexlake.config import Settings
from hexlake.extract.cdc import drop_cdc, parse_array, slot_name
from hexlake.extract.errors import ExtractConfigError
from hexlake.extract.operations import extract
from hexlake.runtime import Runtime
from hexlake.setup import initialise
from hexlake.transform import operations as transform
from hexlake.warehouse import get_warehouse

from .seed import run_pg

pytestmark = pytest.mark.services


@pytest.fixture
def source(logical_pg_url: str) -> Iterator[str]:
    pg_url = logical_pg_url
    run_pg(pg_url, "CREATE TABLE accounts (id INTEGER PRIMARY KEY, email TEXT, plan TEXT, seats INTEGER, "
                   "tags TEXT[], active BOOLEAN)")
    run_pg(pg_url, "INSERT INTO accounts VALUES (1, 'a@x.org', 'free', 1, '{a,\"b c\"}', true), "
                   "(2, 'b@y.org', 'pro', 5, NULL, true), (3, 'c@z.org', 'free', 2, '{}', false)")
    yield pg_url
    drop_cdc(pg_url, "app", "accounts")  # a slot left behind would also block DROP DATABASE
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM pg_replication_slots WHERE database = current_database()"
                            ).fetchone() == (0,)


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    settings = Settings(data_dir=tmp_path / "data")
    initialise(settings)
    rt = Runtime(settings)
    yield rt
    rt.close()


def staging(rt: Runtime) -> list[tuple[Any, ...]]:
    return get_warehouse(rt).cursor().execute(
        "SELECT id, email_domain, plan, seats, tags, active, _is_deleted FROM staging.stg_app_accounts "
        "ORDER BY id").fetchall()


def truth(url: str, deleted: set[int]) -> list[tuple[Any, ...]]:
    """Staging's expected rows from the source's current state; hard-deleted keys flagged, values gone."""
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT id, email, plan, seats, tags, active FROM accounts").fetchall()
    live = [(r[0], r[1].split("@")[1], r[2], r[3], r[4], r[5], False) for r in rows]
    return sorted(live + [(i, None, None, None, None, None, True) for i in deleted])


def run(rt: Runtime, url: str) -> list[dict[str, Any]]:
    results = extract(rt, url, ["accounts"], name="app", cdc=True)
    transform.run(rt)
    return results


def as_lists(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    import json

    return [(*r[:4], None if r[4] is None else json.loads(r[4]), *r[5:]) for r in rows]


def test_updates_without_a_cursor_and_hard_deletes_reach_staging(source: str, runtime: Runtime) -> None:
    (first,) = run(runtime, source)
    assert (first["rows"], first["cursor"]) == (3, "_cdc_lsn")
    assert as_lists(staging(runtime)) == truth(source, set())
    # No updated_at anywhere: an update, a hard delete, an insert, and one transaction changing a row twice.
    run_pg(source, "UPDATE accounts SET plan = 'team', seats = 9 WHERE id = 2")
    run_pg(source, "DELETE FROM accounts WHERE id = 3")
    run_pg(source, "INSERT INTO accounts VALUES (4, 'd@w.org', 'free', 1, '{x}', true)")
    with psycopg.connect(source) as conn:
        conn.execute("UPDATE accounts SET seats = 2 WHERE id = 4")
        conn.execute("UPDATE accounts SET seats = 3, tags = '{x,y}' WHERE id = 4")
    (second,) = run(runtime, source)
    assert second["rows"] == 5
    assert as_lists(staging(runtime)) == truth(source, {3})
    (third,) = run(runtime, source)  # nothing new: nothing landed twice
    assert third["rows"] == 0
    assert as_lists(staging(runtime)) == truth(source, {3})
    plain = get_warehouse(runtime).cursor().execute(
        "SELECT count(*) FROM raw_app_accounts WHERE email LIKE '%@%'").fetchone()
    assert plain == (0,)


def test_cdc_refuses_a_cursor_and_non_postgres_sources(source: str, runtime: Runtime) -> None:
    from hexlake.extract import ExtractOptions, PiiPolicy, extract_tables
    from hexlake.privacy.hashing import Hasher

    with pytest.raises(ExtractConfigError, match="exclude each other"):
        extract_tables(source, get_warehouse(runtime), ["accounts"], ExtractOptions(cdc=True, cursor="id"),
                       PiiPolicy(), Hasher(b"k" * 32))
    with pytest.raises(ExtractConfigError, match="needs a postgresql:// source"):
        extract_tables("mysql://root@127.0.0.1/x", get_warehouse(runtime), ["accounts"],
                       ExtractOptions(cdc=True), PiiPolicy(), Hasher(b"k" * 32))


def test_parse_array() -> None:
    assert parse_array('{a,"b c",NULL,"q\\"x"}') == ["a", "b c", None, 'q"x']
    assert parse_array("{}") == []


def test_slot_names_never_collide_across_databases() -> None:
    # Replication slots are cluster-wide: two databases with a source and table named alike (parallel
    # test workers, two installs) once shared one slot and read each other's changes.
    names = {slot_name(db, "app", "accounts") for db in ("a", "b", "hexlake_test_1")}
    assert len(names) == 3
    assert len(slot_name("d", "s" * 80, "t" * 80)) <= 63


def test_a_source_without_logical_wal_is_a_clear_error(pg_url: str, runtime: Runtime) -> None:
    with psycopg.connect(pg_url) as conn:
        level = conn.execute("SHOW wal_level").fetchone()
    if level == ("logical",):  # pragma: no cover - only on a machine whose PostgreSQL is logical already
        return
    run_pg(pg_url, "CREATE TABLE accounts (id INTEGER PRIMARY KEY)")
    with pytest.raises(ExtractConfigError, match="needs wal_level = logical"):
        extract(runtime, pg_url, ["accounts"], name="app", cdc=True)
