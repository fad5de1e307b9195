"""Scheduled pipelines end to end: PostgreSQL (users, sessions, auth identities) and MariaDB sources
changing between scheduled runs; staging = the sources' current state, marts = truths computed by
hand, nothing plain in the data dir, a failing audit sends one signed webhook and keeps the marts."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pymysql
import pytest
from typer.testing import CliRunner

from hexlake.cli import app
from hexlake.config import Settings
from hexlake.pipeline.service import PipelineService, create
from hexlake.privacy.hashing import Hasher
from hexlake.privacy.secret import load_secret
from hexlake.runtime import Runtime
from hexlake.setup import initialise
from hexlake.stream.webhooks import webhook_key
from hexlake.warehouse import get_warehouse
from tests.extract.seed import PLAIN, STAGING_SELECT, create_users, run_pg, source_users

pytestmark = pytest.mark.services
T0 = datetime.utcnow().replace(second=0, microsecond=0)


class Hook:
    """A local webhook receiver recording (headers, body) of each POST."""

    def __init__(self, fail_first: int = 0) -> None:
        self.got: list[tuple[dict[str, str], bytes]] = []
        self.fail_first = fail_first
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                hook.got.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(503 if len(hook.got) <= hook.fail_first else 200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def hook() -> Iterator[Hook]:
    h = Hook()
    yield h
    h.server.shutdown()


def mysql(url: str, sql: str) -> None:
    p = urlparse(url)
    conn = pymysql.connect(host=p.hostname, port=p.port, user=p.username, database=p.path.strip("/"),
                           autocommit=True)
    with conn.cursor() as cur:
        cur.execute(sql)
    conn.close()


def write_pipelines(data: Path, pg: str, my: str, hook: str) -> None:
    (data / "pipelines.toml").write_text(f"""
[pipelines.daily]
cron = "0 6 * * *"
retries = 2
backoff_s = 0.01
webhook = "{hook}"

[[pipelines.daily.extract]]
source = "{pg}"
name = "app"
tables = ["users", "auth_identities"]
cursor = "updated_at"
accepted = {{ users = {{ preferred_auth_method = ["email", "google", "apple"] }} }}

[[pipelines.daily.extract]]
source = "{pg}"
name = "app"
tables = ["sessions"]

[[pipelines.daily.extract]]
source = "{my}"
name = "shop"
tables = ["orders"]
cursor = "updated_at"
""")


def rows(rt: Runtime, sql: str) -> list[tuple[Any, ...]]:
    return get_warehouse(rt).cursor().execute(sql).fetchall()


def scheduled_run(service: PipelineService) -> bool:
    (scheduler,) = service.children
    return bool(scheduler.run_once())  # type: ignore[attr-defined]


def dim(rt: Runtime) -> list[tuple[Any, ...]]:
    return rows(rt, "SELECT user_id, preferred_auth_method, two_factor_enabled FROM marts.marts_core_dim_users "
                    "ORDER BY user_id")


def test_scheduled_pipeline_end_to_end(pg_url: str, mysql_url: str, hook: Hook, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    initialise(settings)
    rt = Runtime(settings)
    key = Hasher(load_secret(settings.paths.secret)).user_key
    create_users(pg_url)
    run_pg(pg_url, "CREATE TABLE sessions (id INTEGER PRIMARY KEY, user_id INTEGER, started_at TIMESTAMP)")
    run_pg(pg_url, f"INSERT INTO sessions VALUES (1, 1, '{T0}'), (2, 2, '{T0}'), (3, 1, '{T0}')")
    run_pg(pg_url, "CREATE TABLE auth_identities (id INTEGER PRIMARY KEY, user_id INTEGER, provider TEXT, "
                   "provider_email TEXT, updated_at TIMESTAMP)")
    run_pg(pg_url, "INSERT INTO auth_identities VALUES (1, 1, 'google', 'ann@gmail.com', '2026-01-01')")
    mysql(mysql_url, "CREATE TABLE orders (id INT PRIMARY KEY, customer_email VARCHAR(99), total DECIMAL(9,2), "
                     "updated_at DATETIME)")
    mysql(mysql_url, "INSERT INTO orders VALUES (1, 'zed@shop.io', 9.5, '2026-01-01'), "
                     "(2, 'amy@shop.io', 3, '2026-01-02')")
    write_pipelines(settings.data_dir, pg_url, mysql_url, hook.url)
    service = create(rt)
    assert isinstance(service, PipelineService)

    # Run 1 (a scheduled tick).
    assert scheduled_run(service)
    assert rows(rt, STAGING_SELECT) == source_users(pg_url)
    assert rows(rt, "SELECT id, user_key, _is_deleted FROM staging.stg_app_sessions ORDER BY id") == [
        (1, key("1"), False), (2, key("2"), False), (3, key("1"), False)]
    assert rows(rt, "SELECT id, customer_email_domain, total FROM staging.stg_shop_orders ORDER BY id") == [
        (1, "shop.io", 9.5), (2, "shop.io", 3.0)]
    assert rows(rt, "SELECT provider, provider_email_domain FROM staging.stg_app_auth_identities") == [
        ("google", "gmail.com")]
    # Truth by hand: users 1-3 (none deleted), preferred methods and two-factor as in the seed.
    first = [(key("1"), "google", True), (key("2"), "google", False), (key("3"), "email", False)]
    assert dim(rt) == sorted(first)

    # Changes: insert, update, soft delete (users); hard delete (sessions); update (MariaDB).
    run_pg(pg_url, "UPDATE users SET two_factor_enabled = true, updated_at = '2026-01-07' WHERE id = 2")
    run_pg(pg_url, "UPDATE users SET deleted_at = '2026-01-07', updated_at = '2026-01-07' WHERE id = 3")
    run_pg(pg_url, "INSERT INTO users (id, email, preferred_auth_method, two_factor_enabled, created_at, "
                   "updated_at) VALUES (4, 'dee@new.org', 'apple', false, '2026-01-07', '2026-01-07')")
    run_pg(pg_url, "DELETE FROM sessions WHERE id = 3")
    mysql(mysql_url, "UPDATE orders SET total = 4, updated_at = '2026-01-08' WHERE id = 2")
    assert scheduled_run(service)
    assert rows(rt, STAGING_SELECT) == source_users(pg_url)
    assert rows(rt, "SELECT id, _is_deleted FROM staging.stg_app_sessions ORDER BY id") == [
        (1, False), (2, False), (3, True)]
    assert rows(rt, "SELECT id, total FROM staging.stg_shop_orders ORDER BY id") == [(1, 9.5), (2, 4.0)]
    second = [(key("1"), "google", True), (key("2"), "google", True), (key("4"), "apple", False)]
    assert dim(rt) == sorted(second)  # user 3 is deleted: not counted
    assert hook.got == []

    # A value outside the accepted set: the audit fails, one signed webhook, marts unchanged.
    run_pg(pg_url, "UPDATE users SET preferred_auth_method = 'carrier-pigeon', two_factor_enabled = false, "
                   "updated_at = '2026-01-09' WHERE id = 1")
    assert not scheduled_run(service)
    assert dim(rt) == sorted(second)
    assert len(hook.got) == 1
    headers, body = hook.got[0]
    signing = webhook_key(load_secret(settings.paths.secret))
    expected = "sha256=" + hmac.new(signing, headers["x-hexlake-timestamp"].encode() + b"." + body,
                                    hashlib.sha256).hexdigest()
    assert headers["x-hexlake-signature"] == expected
    sent = json.loads(body)
    assert (sent["run"]["status"], sent["run"]["failed_step"]) == ("audit_failed", "transform")
    runs = rows_history(rt)
    assert [r["status"] for r in runs] == ["audit_failed", "ok", "ok"]
    from prometheus_client import REGISTRY, generate_latest

    from hexlake.transform.operations import freshness

    assert REGISTRY.get_sample_value("hexlake_pipeline_failing", {"pipeline": "daily"}) == 1
    assert b'hexlake_pipeline_runs_total{pipeline="daily",status="audit_failed"}' in generate_latest()
    (row,) = [r for r in freshness(rt) if r["model"] == "pipeline.daily"]
    assert (row["pipeline_status"], row["newest_event_time"]) == ("audit_failed", runs[1]["finished_at"])
    rt.close()
    assert scan(settings.data_dir, [*PLAIN, "ann@gmail.com", "zed@shop.io", "amy@shop.io", "dee@new.org"]) == []


def rows_history(rt: Runtime) -> list[dict[str, Any]]:
    from hexlake.pipeline import history

    return history(rt, "daily")


def scan(data_dir: Path, needles: list[str]) -> list[str]:
    hits = []
    for path in data_dir.rglob("*"):
        if path.is_file():
            blob = path.read_bytes()
            hits += [f"{path}: {n}" for n in needles if n.encode() in blob]
    return hits


def test_cli_run_list_history_and_errors(pg_url: str, hook: Hook, tmp_path: Path) -> None:
    data = tmp_path / "data"
    initialise(Settings(data_dir=data))
    (data / "pipelines.toml").write_text(f"""
[pipelines.broken]
cron = "*/5 * * * *"
retries = 1
webhook = "{hook.url}"
webhook_format = "slack"
[[pipelines.broken.extract]]
source = "{pg_url}"
tables = ["missing_table"]
""")
    runner = CliRunner()
    base = ["--data-dir", str(data), "pipeline"]
    result = runner.invoke(app, [*base, "run", "broken", "--json"])
    assert result.exit_code == 1
    assert "failed at step extract: table 'missing_table' does not exist" in str(result.exception)
    assert len(hook.got) == 1 and set(json.loads(hook.got[0][1])) == {"text"}  # Slack's shape
    listed = json.loads(runner.invoke(app, [*base, "list", "--json"]).stdout)
    assert [(p["name"], p["last_status"], p["steps"]) for p in listed] == [
        ("broken", "failed", ["extract", "transform"])]
    runs = json.loads(runner.invoke(app, [*base, "history", "--json"]).stdout)
    assert [(r["status"], r["failed_step"]) for r in runs] == [("failed", "extract")]
    result = runner.invoke(app, [*base, "run", "nope"])
    assert result.exit_code == 1 and "no pipeline 'nope'; pipelines: broken" in str(result.exception)
    (data / "pipelines.toml").write_text('[pipelines.bad]\ncron = "every day"\n')
    result = runner.invoke(app, [*base, "list"])
    assert result.exit_code == 1 and "invalid cron expression 'every day'" in str(result.exception)


def test_get_pipelines_needs_a_read_key(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from hexlake.serve.app import create_app

    data = tmp_path / "data"
    initialise(Settings(data_dir=data))
    (data / "pipelines.toml").write_text('[pipelines.daily]\ncron = "0 6 * * *"\n')
    admin = "hxa_pipeline_admin_token_0123456789ab"
    with TestClient(create_app(Settings(data_dir=data), admin_token=admin, background=False)) as client:
        assert client.get("/v1/pipelines").status_code == 401
        assert client.get("/v1/pipelines", headers={"Authorization": "Bearer wrong"}).status_code == 401
        got = client.get("/v1/pipelines", headers={"Authorization": f"Bearer {admin}"})
        assert got.status_code == 200
        assert [(p["name"], p["cron"], p["last_status"]) for p in got.json()["pipelines"]] == [
            ("daily", "0 6 * * *", None)]
        missing = client.get("/v1/pipelines/nope/runs", headers={"Authorization": f"Bearer {admin}"})
        assert missing.status_code == 404 and missing.json()["error"]["field"] == "name"


def test_worker_runs_pipelines_on_their_cron(pg_url: str, tmp_path: Path) -> None:
    from hexlake.pipeline import history
    from hexlake.worker import run_worker

    data = tmp_path / "data"
    initialise(Settings(data_dir=data))
    run_pg(pg_url, "CREATE TABLE plans (id INTEGER PRIMARY KEY, name TEXT)")
    run_pg(pg_url, "INSERT INTO plans VALUES (1, 'pro')")
    (data / "pipelines.toml").write_text(f"""
[pipelines.every_second]
cron = "* * * * * *"
transform = false
[[pipelines.every_second.extract]]
source = "{pg_url}"
name = "app"
tables = ["plans"]
""")
    rt = Runtime(Settings(data_dir=data))
    stop = threading.Event()
    threading.Timer(3.5, stop.set).start()
    run_worker(rt, ["pipelines"], stop, stop_timeout_s=20)
    runs = history(rt, "every_second")
    assert runs and {r["status"] for r in runs} == {"ok"} and {r["trigger"] for r in runs} == {"schedule"}
    assert rows(rt, "SELECT count(DISTINCT extracted_at) FROM raw_app_plans") == [(len(runs),)]
    rt.close()


def test_failure_webhook_is_retried_until_delivered_and_never_duplicated(pg_url: str, tmp_path: Path) -> None:
    import time

    from hexlake.pipeline.runner import deliver_pending

    hook = Hook(fail_first=1)
    data = tmp_path / "data"
    initialise(Settings(data_dir=data))
    (data / "pipelines.toml").write_text(f"""
[pipelines.p]
retries = 1
webhook = "{hook.url}"
[[pipelines.p.extract]]
source = "{pg_url}"
tables = ["missing_table"]
""")
    rt = Runtime(Settings(data_dir=data))
    service = create(rt)
    assert isinstance(service, PipelineService)
    assert not scheduled_run(service)
    assert len(hook.got) == 1  # 503: stays pending
    time.sleep(1.2)  # the first retry is due after 1 s
    assert deliver_pending(rt) == 1
    assert deliver_pending(rt) == 0
    assert len(hook.got) == 2
    assert hook.got[0][0]["x-hexlake-delivery"] == hook.got[1][0]["x-hexlake-delivery"]
    assert json.loads(hook.got[1][1])["run"]["status"] == "failed"
    hook.server.shutdown()
    rt.close()


def test_the_documented_pipelines_toml_loads(tmp_path: Path) -> None:
    import re

    from hexlake.pipeline import load_pipelines

    doc = (Path(__file__).parents[2] / "docs" / "extract.md").read_text()
    (block,) = re.findall(r"```toml\n(.*?)```", doc, re.S)
    (tmp_path / "pipelines.toml").write_text(block)
    daily = load_pipelines(tmp_path)["daily"]
    assert (daily.cron, daily.webhook_format, daily.steps()) == ("0 6 * * *", "slack", ["extract", "transform", "sync"])
    assert [e.tables for e in daily.extract] == [["users", "auth_identities"], ["sessions"]]


def test_a_source_password_never_leaves_in_an_error(hook: Hook, tmp_path: Path) -> None:
    """A source that cannot be reached: its URL, password included, used to be quoted in the error that
    the CLI prints, the run history keeps, the webhook posts and /v1/freshness shows any key allowed
    `freshness`. Each of them now shows the URL with `***` for the password."""
    from fastapi.testclient import TestClient

    from hexlake.serve.app import create_app
    from hexlake.serve.operations import keys_create

    data = tmp_path / "data"
    initialise(Settings(data_dir=data))
    pg, my = "postgresql://etl:Pg-S3cret@127.0.0.1:1/app", "mysql://root:My-S3cret@127.0.0.1:1/app"
    (data / "pipelines.toml").write_text(f"""
[pipelines.pg]
retries = 1
webhook = "{hook.url}"
[[pipelines.pg.extract]]
source = "{pg}"
tables = ["users"]
[pipelines.my]
retries = 1
[[pipelines.my.extract]]
source = "{my}"
tables = ["users"]
""")
    runner = CliRunner()
    seen: list[str] = []
    for name in ("pg", "my"):
        result = runner.invoke(app, ["--data-dir", str(data), "pipeline", "run", name])
        assert result.exit_code == 1
        seen.append(str(result.exception) + result.output)
    assert "cannot connect to the source 'postgresql://etl:***@127.0.0.1:1/app'" in seen[0]
    assert "'mysql://root:***@127.0.0.1:1/app'" in seen[1]
    result = runner.invoke(app, ["--data-dir", str(data), "extract", "--source", pg, "--tables", "users"])
    assert result.exit_code == 1 and "etl:***@" in str(result.exception) + result.output
    seen.append(str(result.exception) + result.output)
    seen += [body.decode() for _, body in hook.got]
    assert len(hook.got) == 1
    seen.append(runner.invoke(app, ["--data-dir", str(data), "pipeline", "history", "--json"]).stdout)
    with TestClient(create_app(Settings(data_dir=data), background=False)) as client:
        reader = keys_create(client.app.state.runtime, "read", apis=["freshness"])["key"]  # type: ignore[attr-defined]
        fresh = client.get("/v1/freshness", headers={"Authorization": f"Bearer {reader}"})
        assert fresh.status_code == 200 and "***" in fresh.text
        seen.append(fresh.text)
    seen.append((data / "pipelines.sqlite").read_bytes().decode("utf-8", "replace"))
    assert all("S3cret" not in text for text in seen), [t for t in seen if "S3cret" in t]
