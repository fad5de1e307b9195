"""Every SQLMesh model runs on PostgreSQL, and the marts equal DuckDB's (EXCEPT both ways is empty)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import psycopg
import pytest

from hexlake.config import Settings
from hexlake.runtime import Runtime
from hexlake.warehouse import get_warehouse
from hexlake.warehouse.schema import RAW_EVENTS_COLUMNS

from ..transform.events import generate, to_rows, unique

pytestmark = [pytest.mark.services, pytest.mark.slow]
COLS = ", ".join(name for name, _ in RAW_EVENTS_COLUMNS)


def build(settings: Settings, rows: list[tuple[Any, ...]], t0: datetime) -> Runtime:
    from hexlake.transform import operations
    from hexlake.transform.engine import TransformEngine

    runtime = Runtime(settings)
    wh = get_warehouse(runtime)
    if settings.warehouse_url:
        with psycopg.connect(settings.warehouse_url) as conn, conn.cursor() as cur:
            marks = ", ".join(["%s"] * len(RAW_EVENTS_COLUMNS))
            cur.executemany(f"INSERT INTO raw_events ({COLS}) VALUES ({marks}) ON CONFLICT DO NOTHING", rows)
    else:
        wh.cursor().executemany(f"INSERT INTO raw_events VALUES ({', '.join('?' * len(RAW_EVENTS_COLUMNS))})",
                                rows)
    if settings.warehouse_url:  # the user's path (`hexlake transform run`), run history included
        report = operations.run(runtime, execution_time=t0)
        assert report["ok"], report["error"]
    else:
        engine = TransformEngine(settings)
        assert engine.run(execution_time=t0).ok
        engine.close()
    return runtime


def marts(conn_rows: Any) -> list[str]:
    return [f"{s}.{t}" for s, t in conn_rows]


def normal(value: Any) -> str | None:
    """One text form per value across engines (floats to 9 significant digits, lists sorted)."""
    if value is None:
        return None
    if isinstance(value, float | Decimal):
        f = float(value)
        return "nan" if math.isnan(f) else f"{f:.9g}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(sorted(str(normal(v)) for v in value)) + "]"
    if isinstance(value, datetime):
        return value.replace(tzinfo=None).isoformat(sep=" ")
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@pytest.fixture(scope="module")
def engines(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[
        tuple[Runtime, Runtime, str]]:
    from ..conftest import unique_name

    name = unique_name("hexlake_marts")
    admin = "postgresql://postgres@127.0.0.1:5432/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    pg_url = f"postgresql://postgres@127.0.0.1:5432/{name}"
    base = Path(tmp_path_factory.mktemp("marts"))
    t0 = datetime.utcnow().replace(second=0, microsecond=0) - timedelta(hours=1)
    events = unique(generate(t0))
    rows = to_rows(events)
    duck = build(Settings(data_dir=base / "duck"), rows, t0)
    pg = build(Settings(data_dir=base / "pg", warehouse_url=pg_url), rows, t0)
    yield duck, pg, pg_url
    duck.close()
    pg.close()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_every_model_was_built_on_postgresql(engines: tuple[Runtime, Runtime, str]) -> None:
    duck, _pg, pg_url = engines
    duck_marts = marts(get_warehouse(duck).cursor().execute(
        "SELECT table_schema, table_name FROM information_schema.tables "
        "WHERE table_schema IN ('marts', 'staging') ORDER BY 1, 2").fetchall())
    with psycopg.connect(pg_url) as conn:
        pg_marts = marts(conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema IN ('marts', 'staging') ORDER BY 1, 2").fetchall())
    assert duck_marts and pg_marts == duck_marts


def test_marts_on_postgresql_equal_duckdb_except_both_ways(engines: tuple[Runtime, Runtime, str]) -> None:
    duck, _pg, pg_url = engines
    dcur = get_warehouse(duck).cursor()
    names = marts(dcur.execute("SELECT table_schema, table_name FROM information_schema.tables "
                               "WHERE table_schema = 'marts' ORDER BY 2").fetchall())
    cmp = duckdb.connect()
    differences = {}
    with psycopg.connect(pg_url) as pg:
        for name in names:
            dres = dcur.execute(f"SELECT * FROM {name}")
            cols = [d[0] for d in dres.description]
            drows = [tuple(normal(v) for v in r) for r in dres.fetchall()]
            prows = [tuple(normal(v) for v in r) for r in pg.execute(
                f"SELECT {', '.join(cols)} FROM {name}").fetchall()]
            body = ", ".join(f'"{c}" VARCHAR' for c in cols)
            for side, data in (("d", drows), ("p", prows)):
                cmp.execute(f"CREATE OR REPLACE TABLE {side} ({body})")
                if data:
                    cmp.executemany(f"INSERT INTO {side} VALUES ({', '.join('?' * len(cols))})", data)
            only_duck = cmp.execute("SELECT * FROM d EXCEPT ALL SELECT * FROM p").fetchall()
            only_pg = cmp.execute("SELECT * FROM p EXCEPT ALL SELECT * FROM d").fetchall()
            if only_duck or only_pg or not drows:
                differences[name] = {"rows": len(drows), "only_duckdb": only_duck[:3], "only_postgres": only_pg[:3]}
    nonempty = [n for n in names if n not in differences or differences[n]["rows"]]
    assert len(nonempty) >= 5
    assert {n: d for n, d in differences.items() if d["only_duckdb"] or d["only_postgres"]} == {}


def test_mart_columns_read_the_same_through_the_api_helper_on_both_engines(
        engines: tuple[Runtime, Runtime, str]) -> None:
    from hexlake.transform.api import _columns

    duck, pg, _ = engines
    for table in ("marts.metrics_active_users", "marts.marts_core_user_activity_daily"):
        assert _columns(pg, table) == _columns(duck, table) != []
