"""The query sandbox in-process: the hardened database, per-key tables and columns, limits, audit."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from hexlake.config import Settings
from hexlake.errors import TooManyRequests
from hexlake.ops.audit import get_audit_log
from hexlake.runtime import Runtime
from hexlake.warehouse import get_warehouse
from hexlake.warehouse.query import QuerySandbox, get_sandbox
from hexlake.warehouse.readonly import QueryRefused
from hexlake.warehouse.sandbox import Caller, QueryCancelled, QueryTimeout, Slots

READER = Caller(key_id="k_reader", kind="read")
ADMIN = Caller(key_id="k_admin", kind="admin")
HEAVY = "SELECT count(*) FROM range(100000000) a, range(100000000) b"


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    rt = Runtime(Settings(data_dir=tmp_path / "data", query={"time_limit_s": 1.0, "max_rows": 100}))
    wh = get_warehouse(rt)
    for sql in ("CREATE SCHEMA marts", "CREATE SCHEMA ops",
                "CREATE TABLE marts.daily AS SELECT range AS day, range * 10 AS users, 'x' || range AS secret "
                "FROM range(500)",
                "CREATE TABLE marts.places AS SELECT 'p1' AS place_id, 3 AS n",
                "CREATE TABLE ops.transform_runs AS SELECT 1 AS id",
                "CREATE TABLE main.hexlake_extract_state AS SELECT 1 AS id"):
        wh.execute(sql)
    (tmp_path / "data" / "server.json").write_text('{"admin_token": "hxa_SECRET_TOKEN"}')
    yield rt
    rt.close()


@pytest.fixture
def sandbox(runtime: Runtime) -> QuerySandbox:
    return get_sandbox(runtime)


HARDENED = {
    "enable_external_access": "true", "autoinstall_known_extensions": "true",
    "autoload_known_extensions": "true", "allow_community_extensions": "true",
    "allow_unsigned_extensions": "true", "memory_limit": "'100GB'", "lock_configuration": "false",
    "allowed_directories": "['/']", "allowed_paths": "['/etc/passwd']",
}


@pytest.mark.parametrize("name,value", HARDENED.items())
def test_database_refuses_to_change_any_setting_back(runtime: Runtime, name: str, value: str) -> None:
    """Even SQL that bypassed the parser could not undo the hardening: the configuration is locked."""
    cur = get_warehouse(runtime).cursor()
    before = cur.execute(f"SELECT current_setting('{name}')").fetchone()
    for sql in (f"SET {name} = {value}", f"SET GLOBAL {name} = {value}", f"RESET {name}",
                f"PRAGMA {name} = {value}", f"CALL pragma_{name}()"):
        with pytest.raises(duckdb.Error):
            cur.execute(sql)
    assert cur.execute(f"SELECT current_setting('{name}')").fetchone() == before
    assert cur.execute("SELECT current_setting('lock_configuration')").fetchone() == (True,)
    assert cur.execute("SELECT current_setting('enable_external_access')").fetchone() == (False,)


def test_memory_limit_of_the_query_database_is_the_setting(tmp_path: Path) -> None:
    rt = Runtime(Settings(data_dir=tmp_path / "other", query={"memory_limit": "300MB"}))
    try:
        expected = duckdb.connect().execute("SET memory_limit = '300MB'").execute(
            "SELECT current_setting('memory_limit')").fetchone()
        assert get_warehouse(rt).cursor().execute("SELECT current_setting('memory_limit')").fetchone() == expected
    finally:
        rt.close()


def test_database_reads_and_writes_no_file_even_without_the_parser(runtime: Runtime, tmp_path: Path) -> None:
    cur = get_warehouse(runtime).cursor()
    secret = tmp_path / "data" / "server.json"
    for sql in (f"SELECT * FROM read_text('{secret}')", f"SUMMARIZE '{secret}'", f"SELECT * FROM glob('{tmp_path}/*')",
                f"COPY marts.daily TO '{tmp_path}/out.csv'", f"ATTACH '{tmp_path}/other.duckdb'",
                f"EXPORT DATABASE '{tmp_path}/export'", "INSTALL sqlite", "LOAD sqlite"):
        with pytest.raises(duckdb.Error):
            cur.execute(sql).fetchall()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


def test_hexlake_still_loads_through_registered_arrow_tables(runtime: Runtime) -> None:
    import pyarrow as pa

    cur: Any = get_warehouse(runtime).cursor()  # the DuckDB connection itself: it has register()
    cur.register("staged", pa.table({"a": [1, 2]}))
    cur.execute("CREATE TABLE main.t AS SELECT * FROM staged")
    assert cur.execute("SELECT sum(a) FROM main.t").fetchone() == (3,)


def test_read_key_sees_data_tables_but_never_catalog_or_ops_tables(sandbox: QuerySandbox) -> None:
    assert sandbox.run("SELECT count(*) FROM marts.daily", READER).rows == [[500]]
    shown = sandbox.run("SHOW TABLES", READER).rows
    assert ["marts", "daily"] in shown and ["ops", "transform_runs"] not in shown
    assert all(not name.startswith("hexlake_") for _, name in shown)
    for sql in ("SELECT * FROM ops.transform_runs", "SELECT * FROM hexlake_extract_state",
                "SELECT * FROM information_schema.tables", "SELECT * FROM duckdb_tables()",
                "DESCRIBE ops.transform_runs", "SELECT * FROM pg_catalog.pg_tables"):
        with pytest.raises(QueryRefused):
            sandbox.run(sql, READER)
    assert sandbox.run("SELECT count(*) FROM ops.transform_runs", ADMIN).rows == [[1]]


def test_mart_scoped_key_reads_only_its_marts(sandbox: QuerySandbox) -> None:
    scoped = Caller(key_id="k_places", kind="read", marts=frozenset({"places"}))
    assert sandbox.run("SELECT n FROM marts.places", scoped).rows == [[3]]
    with pytest.raises(QueryRefused, match="may not read"):
        sandbox.run("SELECT * FROM marts.places JOIN marts.daily ON true", scoped)
    assert sandbox.run("SHOW TABLES", scoped).rows == [["marts", "places"]]


def test_column_limited_key_names_only_its_columns(sandbox: QuerySandbox) -> None:
    limited = Caller(key_id="k_cols", kind="read", columns=frozenset({"day", "daily.users"}))
    assert sandbox.run("SELECT day, users FROM marts.daily ORDER BY day LIMIT 1", limited).rows == [[0, 0]]
    for sql, reason in [("SELECT * FROM marts.daily", r"no \*"), ("SELECT secret FROM marts.daily", "secret"),
                        ("SELECT d.secret FROM marts.daily d", "secret"), ("SUMMARIZE marts.daily", "SUMMARIZE"),
                        ("SELECT daily FROM marts.daily", "whole row"),
                        ("SELECT to_json(d) FROM marts.daily d", "whole row"),
                        ("SELECT #3 FROM marts.daily", "#n"),
                        ("SELECT c FROM marts.daily AS d(a, b, c)", "renaming"),
                        ("SELECT x FROM (SELECT secret AS x FROM marts.daily)", "secret")]:
        with pytest.raises(QueryRefused, match=reason):
            sandbox.run(sql, limited)


def test_row_cap_says_it_truncated(sandbox: QuerySandbox) -> None:
    capped = sandbox.run("SELECT * FROM marts.daily ORDER BY day", READER, limit=10)
    assert len(capped.rows) == 10 and capped.truncated
    assert not sandbox.run("SELECT * FROM marts.daily LIMIT 10", READER, limit=10).truncated
    server_cap = sandbox.run("SELECT * FROM marts.daily", READER, limit=100_000)  # query.max_rows = 100
    assert len(server_cap.rows) == 100 and server_cap.truncated


def test_time_limit_interrupts_a_heavy_query(sandbox: QuerySandbox) -> None:
    started = time.monotonic()
    with pytest.raises(QueryTimeout, match="longer than 1 s"):
        sandbox.run(HEAVY, READER)
    assert time.monotonic() - started < 3
    assert sandbox.run("SELECT 1 AS one", READER).rows == [[1]]  # the database is fine afterwards


def test_cancel_stops_a_running_query_at_once(sandbox: QuerySandbox) -> None:
    handles: list = []
    errors: list[Exception] = []

    def run() -> None:
        try:
            sandbox.run(HEAVY, READER, on_start=handles.append)
        except Exception as exc:
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    while not handles:
        time.sleep(0.01)
    started = time.monotonic()
    handles[0].cancel("the client disconnected")
    thread.join(5)
    assert time.monotonic() - started < 0.5
    assert isinstance(errors[0], QueryCancelled) and "disconnected" in errors[0].message


def test_a_cancel_before_the_database_starts_the_query_still_stops_it(sandbox: QuerySandbox) -> None:
    # the client goes away (or the server stops) after the handle is published but before DuckDB
    # runs the query: that interrupt finds nothing to stop, so the sandbox repeats it until the query
    # ends (it used to run unbounded, past the time limit, and hang the connection's close)
    started = time.monotonic()
    with pytest.raises(QueryCancelled, match="disconnected"):
        sandbox.run(HEAVY, READER, on_start=lambda handle: handle.cancel("the client disconnected"))
    assert time.monotonic() - started < 0.9  # well inside the 1 s limit, which would say "timeout"
    assert sandbox.run("SELECT 1 AS one", READER).rows == [[1]]


def test_concurrency_caps_per_key_and_in_total() -> None:
    slots = Slots(total=3, per_key=2)
    with slots.hold("a"), slots.hold("a"):
        with pytest.raises(TooManyRequests) as info, slots.hold("a"):
            pass
        assert info.value.headers["Retry-After"] == "1" and info.value.status == 429
        with slots.hold("b"), pytest.raises(TooManyRequests, match="3 queries"), slots.hold("c"):
            pass
    with slots.hold("a"), slots.hold("a"):  # released: the key may run again
        pass


def test_every_query_is_audited_with_its_outcome(runtime: Runtime, sandbox: QuerySandbox) -> None:
    sandbox.run("SELECT day FROM marts.daily LIMIT 3", READER)
    with pytest.raises(QueryRefused):
        sandbox.run("SELECT * FROM read_text('/etc/passwd')", READER)
    with pytest.raises(QueryTimeout):
        sandbox.run(HEAVY, READER)
    audit = get_audit_log(runtime)
    audit.flush()
    items = audit.entries(key_id="k_reader")
    assert [i["outcome"] for i in items] == ["timeout", "refused", "ok"]
    ok = items[-1]
    assert ok["tables_accessed"] == ["marts.daily"] and ok["rows_returned"] == 3
    assert ok["query_text"] == "SELECT day FROM marts.daily LIMIT 3" and ok["execution_time_ms"] > 0
    assert "read_text" in items[1]["error"]


def test_audit_purge_keeps_its_retention_class(runtime: Runtime, sandbox: QuerySandbox) -> None:
    sandbox.run("SELECT 1 AS one", READER)
    audit = get_audit_log(runtime)
    audit.flush()
    assert audit.purge(datetime.now(UTC) + timedelta(days=729)) == 0
    assert audit.purge(datetime.now(UTC) + timedelta(days=731)) == 1
    assert audit.entries() == []
