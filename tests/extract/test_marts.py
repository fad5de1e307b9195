"""The core marts with an extracted users table: both worlds joined, checked against truths
computed by hand, on the DuckDB and on a PostgreSQL warehouse (nothing made by hand on either); and
identical to events-only when no users table is extracted (tests/transform)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from hexlake.extract.operations import extract
from hexlake.privacy.hashing import Hasher
from hexlake.privacy.secret import load_secret
from hexlake.runtime import Runtime
from hexlake.transform import operations as transform
from hexlake.warehouse import get_warehouse
from tests.transform.conftest import insert
from tests.transform.events import ev, to_rows

from .seed import USERS_DDL, run_pg

pytestmark = pytest.mark.services
T0 = datetime.utcnow().replace(second=0, microsecond=0)
DAY = timedelta(days=1)


@pytest.fixture
def runtime(any_runtime: Runtime) -> Runtime:
    """Extract → staging → marts on DuckDB and on a PostgreSQL warehouse (tests/extract/conftest.py)."""
    return any_runtime


def rows(rt: Runtime, sql: str) -> list[tuple[Any, ...]]:
    return get_warehouse(rt).cursor().execute(sql).fetchall()


def user(uid: int, methods: list[str], preferred: str, two_factor: bool, created: datetime,
         last_login: datetime | None, deleted: datetime | None = None) -> tuple[Any, ...]:
    return (uid, f"u{uid}@example.com", methods, preferred, two_factor, last_login, created, T0 - 10 * DAY, deleted)


def load_users(url: str, users: list[tuple[Any, ...]]) -> None:
    run_pg(url, "INSERT INTO users (id, email, auth_methods, preferred_auth_method, two_factor_enabled, "
                "last_login_at, created_at, updated_at, deleted_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
           users)


def test_marts_join_events_and_the_extracted_users_table(pg_url: str, runtime: Runtime) -> None:
    key = Hasher(load_secret(runtime.settings.paths.secret)).user_key
    k1, k2, k3, k4 = key("1"), key("2"), key("3"), key("4")
    run_pg(pg_url, USERS_DDL)
    load_users(pg_url, [user(1, ["email", "google"], "google", True, T0 - 20 * DAY, T0 - 2 * DAY),
                        user(2, ["google"], "google", False, T0 - 3 * DAY, T0 - DAY),
                        user(3, ["email"], "email", False, T0 - 40 * DAY, T0 - 35 * DAY, deleted=T0 - 30 * DAY)])
    # Events: u1's login 2 days ago is also its last_login_at (counted once); u4 is only in events.
    insert(runtime, to_rows([
        ev("e1", "login", T0 - 5 * DAY, k1, session="s1", props={"method": "email"}),
        ev("e2", "login", T0 - 2 * DAY, k1, session="s2", props={"method": "google"}),
        ev("e3", "login", T0 - DAY, k4, session="s3", props={"method": "apple"}),
    ]))
    extract(runtime, pg_url, ["users"], cursor="updated_at", name="app")
    transform.run(runtime)

    activity = "SELECT activity_date, user_id, login_count, session_count, api_calls_count " \
               "FROM marts.marts_core_user_activity_daily ORDER BY activity_date, user_id"
    truth = sorted([((T0 - 5 * DAY).date(), k1, 1, 1, 1), ((T0 - 2 * DAY).date(), k1, 1, 1, 1),
                    ((T0 - DAY).date(), k2, 1, 0, 0), ((T0 - DAY).date(), k4, 1, 1, 1),
                    ((T0 - 35 * DAY).date(), k3, 1, 0, 0)])  # history stays: u3 logged in before deletion
    assert rows(runtime, activity) == truth
    dim = "SELECT user_id, auth_methods, preferred_auth_method, two_factor_enabled, lifecycle_stage, " \
          "first_login_at, last_login_at, created_at FROM marts.marts_core_dim_users ORDER BY user_id"
    expected = {
        k1: (k1, ["email", "google"], "google", True, "active", T0 - 5 * DAY, T0 - 2 * DAY, T0 - 20 * DAY),
        k2: (k2, ["google"], "google", False, "new", T0 - DAY, T0 - DAY, T0 - 3 * DAY),
        k4: (k4, ["apple"], "apple", False, "new", T0 - DAY, T0 - DAY, T0 - DAY),  # events only
    }  # u3 is deleted: not counted
    assert rows(runtime, dim) == [expected[k] for k in sorted(expected)]

    # Between runs: u2 logs in (only last_login_at says so), u1 is soft-deleted.
    login = T0 - timedelta(minutes=30)
    run_pg(pg_url, f"UPDATE users SET last_login_at = '{login}', updated_at = '{T0 - DAY}' WHERE id = 2")
    run_pg(pg_url, f"UPDATE users SET deleted_at = '{T0 - DAY}', updated_at = '{T0 - DAY}' WHERE id = 1")
    extract(runtime, pg_url, ["users"], cursor="updated_at", name="app")
    transform.run(runtime)
    truth.append((login.date(), k2, 1, 0, 0))
    if login.date() == (T0 - DAY).date():  # pragma: no cover - only right after midnight
        truth = [t for t in truth if t[:2] != (login.date(), k2)] + [(login.date(), k2, 2, 0, 0)]
    assert rows(runtime, activity) == sorted(truth)
    expected.pop(k1)
    expected[k2] = (k2, ["google"], "google", False, "new", T0 - DAY, login, T0 - 3 * DAY)
    assert rows(runtime, dim) == [expected[k] for k in sorted(expected)]
