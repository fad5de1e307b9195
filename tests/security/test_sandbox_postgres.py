"""The sandbox on a PostgreSQL warehouse: same allowlist, a READ ONLY transaction, statement_timeout."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hexlake.config import Settings
from hexlake.errors import BadRequest
from hexlake.runtime import Runtime
from hexlake.warehouse import get_warehouse
from hexlake.warehouse.query import QuerySandbox, get_sandbox
from hexlake.warehouse.readonly import ParsedQuery, QueryRefused
from hexlake.warehouse.sandbox import Caller, QueryTimeout

pytestmark = pytest.mark.services
READER = Caller(key_id="k_pg", kind="read")


@pytest.fixture
def sandbox(tmp_path: Path, pg_url: str) -> Iterator[QuerySandbox]:
    runtime = Runtime(Settings(data_dir=tmp_path / "data", warehouse_url=pg_url, query={"time_limit_s": 1.0}))
    wh = get_warehouse(runtime)
    wh.execute("CREATE SCHEMA marts")
    wh.execute("CREATE TABLE marts.daily AS SELECT i AS day, i * 10 AS users FROM generate_series(1, 50) i")
    wh.execute("CREATE SCHEMA ops")
    wh.execute("CREATE TABLE ops.secrets AS SELECT 'x' AS v")
    yield get_sandbox(runtime)
    runtime.close()


def test_reads_through_the_same_allowlist(sandbox: QuerySandbox) -> None:
    result = sandbox.run("SELECT sum(users) AS users FROM marts.daily WHERE day <= 3", READER)
    assert result.rows == [[60]] and result.tables == ["marts.daily"]
    capped = sandbox.run("SELECT day FROM marts.daily ORDER BY day", READER, limit=5)
    assert capped.truncated and [r[0] for r in capped.rows] == [1, 2, 3, 4, 5]
    for sql in ("SELECT pg_read_file('/etc/passwd')", "SELECT * FROM ops.secrets",
                "SELECT * FROM pg_catalog.pg_shadow", "COPY marts.daily TO '/tmp/x.csv'",
                "SELECT pg_sleep(10)", "SELECT * FROM dblink('host=x', 'SELECT 1')"):
        with pytest.raises(QueryRefused):
            sandbox.run(sql, READER)


def test_statement_timeout_stops_a_heavy_query(sandbox: QuerySandbox) -> None:
    with pytest.raises(QueryTimeout):
        sandbox.run("SELECT count(*) FROM generate_series(1, 100000000) a, generate_series(1, 100000000) b",
                    READER)


def test_the_transaction_itself_is_read_only(sandbox: QuerySandbox) -> None:
    """The second wall: even a write that got past the parser fails in the READ ONLY transaction."""
    with pytest.raises(BadRequest, match="read-only transaction"):
        sandbox._run_postgres(ParsedQuery(kind="select", sql="CREATE TABLE marts.evil (a int)"), 10, None)
    assert sandbox.run("SELECT count(*) FROM marts.daily", READER).rows == [[50]]
