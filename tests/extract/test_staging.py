"""Generated staging models: current state (SCD1) of the source, typed, deletes flagged, audited,
no plain identifier anywhere in the data dir."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hexlake.config import Settings
from hexlake.extract.operations import extract
from hexlake.runtime import Runtime
from hexlake.setup import initialise
from hexlake.transform import operations as transform
from hexlake.warehouse import get_warehouse

from .conftest import on_postgres
from .seed import PLAIN, STAGING_SELECT, STAGING_SELECT_PG, create_users, run_pg, source_users

pytestmark = pytest.mark.services


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    settings = Settings(data_dir=tmp_path / "data")
    initialise(settings)
    rt = Runtime(settings)
    yield rt
    rt.close()


def rows(rt: Runtime, sql: str) -> list[tuple[Any, ...]]:
    return get_warehouse(rt).cursor().execute(sql).fetchall()


def scan_for_plain(data_dir: Path, needles: list[str]) -> list[str]:
    """Every file under the data dir that contains a plain identifier (bytes, any encoding of ASCII)."""
    hits = []
    for path in data_dir.rglob("*"):
        if path.is_file():
            blob = path.read_bytes()
            hits += [f"{path}: {n}" for n in needles if n.encode() in blob]
    return hits


def test_staging_is_the_sources_current_state_after_each_run(pg_url: str, any_runtime: Runtime) -> None:
    runtime = any_runtime  # DuckDB, then a PostgreSQL warehouse: nothing made by hand on either
    select = STAGING_SELECT_PG if on_postgres(runtime) else STAGING_SELECT
    create_users(pg_url)
    extract(runtime, pg_url, ["users"], cursor="updated_at", name="app",
            accepted={"users": {"preferred_auth_method": ["email", "google", "apple"]}})
    transform.run(runtime)
    assert rows(runtime, select) == source_users(pg_url)
    # Between runs: an update, a soft delete and a new user.
    run_pg(pg_url, "UPDATE users SET two_factor_enabled = true, updated_at = '2026-01-06 10:00' WHERE id = 2")
    run_pg(pg_url, "UPDATE users SET deleted_at = '2026-01-06 11:00', updated_at = '2026-01-06 11:00' WHERE id = 3")
    run_pg(pg_url, "INSERT INTO users (id, email, auth_methods, preferred_auth_method, two_factor_enabled, "
                   "created_at, updated_at) VALUES (4, 'dee@new.org', '{apple}', 'apple', false, "
                   "'2026-01-06 12:00', '2026-01-06 12:00')")
    extract(runtime, pg_url, ["users"], cursor="updated_at", name="app",
            accepted={"users": {"preferred_auth_method": ["email", "google", "apple"]}})
    transform.run(runtime)
    got = rows(runtime, select)
    assert got == source_users(pg_url)
    assert [r[-1] for r in got] == [False, False, True, False]
    assert rows(runtime, "SELECT count(*) FROM raw_app_users") == [(6,)]  # raw keeps every version
    stored = rows(runtime, "SELECT * FROM raw_app_users") + rows(runtime, "SELECT * FROM staging.stg_app_users")
    assert [n for n in PLAIN if n in repr(stored)] == []
    runtime.close()  # flush DuckDB before scanning its files
    assert scan_for_plain(runtime.settings.data_dir, PLAIN) == []


def test_snapshot_mode_flags_hard_deletes_and_user_models_sit_beside_generated(pg_url: str,
                                                                               runtime: Runtime) -> None:
    create_users(pg_url)
    extract(runtime, pg_url, ["users"], name="app")
    own = runtime.settings.data_dir / "transform" / "models" / "mine.sql"
    own.write_text("MODEL (name marts.my_domains, kind FULL, cron '@daily', allow_partials TRUE);\n"
                   "SELECT email_domain, count(*) AS n FROM staging.stg_app_users "
                   "WHERE NOT _is_deleted GROUP BY 1\n")
    transform.run(runtime)
    run_pg(pg_url, "DELETE FROM users WHERE id = 1")
    extract(runtime, pg_url, ["users"], name="app")
    transform.run(runtime)
    got = rows(runtime, "SELECT user_id, _is_deleted FROM staging.stg_app_users ORDER BY user_id")
    assert got == [(1, True), (2, False), (3, False)]
    assert rows(runtime, "SELECT * FROM marts.my_domains ORDER BY 1") == [("corp.io", 1), ("example.com", 1)]


def test_generated_audits_fail_on_values_outside_the_accepted_set(pg_url: str, runtime: Runtime) -> None:
    from hexlake.errors import TransformError

    create_users(pg_url)
    run_pg(pg_url, "UPDATE users SET preferred_auth_method = 'carrier-pigeon' WHERE id = 3")
    extract(runtime, pg_url, ["users"], cursor="updated_at", name="app",
            accepted={"users": {"preferred_auth_method": ["email", "google"]}})
    with pytest.raises(TransformError, match="accepted_values"):
        transform.run(runtime)


def test_models_read_the_schema_the_raw_table_landed_in(tmp_path: Path) -> None:
    from hexlake.extract.staging import MANIFEST, users_binding, write_project

    def result(table: str, schema: str | None) -> dict[str, Any]:
        r: dict[str, Any] = {"raw_table": f"raw_app_{table}", "table": table, "primary_key": ["id"], "cursor": None,
             "columns": [["id", "BIGINT"], ["user_key", "VARCHAR"]], "pii": {}}
        return {**r, "raw_schema": schema} if schema else r

    project = tmp_path / "data" / "transform"
    # A manifest written before the schema was recorded (DuckDB: main), then an extraction on a
    # PostgreSQL warehouse: every model, the old one included, reads public.
    write_project(project, [result("users", None)], "app")
    assert 'FROM main."raw_app_users"' in (project / "models/generated/stg_app_users.sql").read_text()
    manifest = (project / MANIFEST).read_text().replace('"raw_schema": "main",', "")
    (project / MANIFEST).write_text(manifest)
    write_project(project, [result("sessions", "public")], "app")
    for table in ("users", "sessions"):
        assert f'FROM public."raw_app_{table}"' in (project / f"models/generated/stg_app_{table}.sql").read_text()
    assert "- name: public.raw_app_users" in (project / "external_models.yaml").read_text()
    assert '"raw": "public.raw_app_users"' in users_binding(tmp_path / "data")
