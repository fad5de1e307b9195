"""``hexlake extract`` and ``hexlake sync`` from the command line: JSON out, clear errors."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from hexlake.cli import app
from hexlake.config import Settings
from hexlake.setup import initialise

from ..client.server import HEXLAKE

pytestmark = pytest.mark.services


def test_extract_then_sync_from_the_cli(pg_url: str, tmp_path: Path) -> None:
    data = tmp_path / "data"
    initialise(Settings(data_dir=data))
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE users (id int, email text, updated_at timestamp)")
        conn.execute("INSERT INTO users VALUES (1, 'a@x.org', '2024-01-01'), (2, 'b@x.org', '2024-01-02')")
    runner = CliRunner()
    result = runner.invoke(app, ["--data-dir", str(data), "extract", "--source", pg_url, "--tables", "users",
                                 "--cursor", "updated_at", "--name", "crm", "--pii", "users.email=hash", "--json"])
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.stdout)
    assert (row["raw_table"], row["rows"], row["mode"]) == ("raw_crm_users", 2, "incremental")
    lake = tmp_path / "lake"
    result = runner.invoke(app, ["--data-dir", str(data), "sync", "run", "--target", f"parquet://{lake}",
                                 "--tables", "raw_crm_users", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["rows"] == 2
    result = runner.invoke(app, ["--data-dir", str(data), "sync", "status", "--json"])
    assert [(r["table"], r["status"], r["rows"]) for r in json.loads(result.stdout)] == [
        ("raw_crm_users", "synced", 2)]


def test_bad_pii_rule_is_an_error_message_not_a_traceback(tmp_path: Path) -> None:
    data = tmp_path / "data"
    initialise(Settings(data_dir=data))
    done = subprocess.run([*HEXLAKE, "--data-dir", str(data), "extract", "--source", "mysql://x/y", "--tables", "t",
                           "--pii", "users.email=encrypt"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert done.stderr.startswith("Error: PII action 'encrypt' for users.email is unknown")
    assert "Traceback" not in done.stderr
