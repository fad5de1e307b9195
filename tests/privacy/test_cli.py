"""The privacy CLI as a user runs it (subprocesses on a temp data dir)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from tests.helpers import hexlake, init

pytestmark = pytest.mark.slow


def test_erase_export_and_retention_commands(tmp_path: Path) -> None:
    data = tmp_path / "data"
    init(data)
    report = json.loads(hexlake(data, "privacy", "erase", "--user", "12345", "--json").stdout)
    assert report["clean"] is True and {r["layer"] for r in report["layers"]} >= {"log", "online store"}
    waited = json.loads(hexlake(data, "privacy", "erase", "--user", "12345", "--wait", "--json").stdout)
    assert waited["clean"] is True and waited["restated"] is None  # nothing of theirs: no days to recompute
    hexlake(data, "privacy", "export", "--user", "12345", "--out", str(tmp_path / "me.zip"))
    assert "README.md" in zipfile.ZipFile(tmp_path / "me.zip").namelist()
    dry = json.loads(hexlake(data, "privacy", "retention", "--dry-run", "--json").stdout)
    assert dry["dry_run"] is True and set(dry["classes"]) >= {"location", "transaction"}


def test_bad_user_id_is_an_error_naming_the_field(tmp_path: Path) -> None:
    data = tmp_path / "data"
    init(data)
    proc = hexlake(data, "privacy", "erase", "--user", "x" * 300, check=False)
    assert proc.returncode != 0 and "Error:" in proc.stderr + proc.stdout and "user_id" in proc.stderr + proc.stdout
    proc = hexlake(data, "privacy", "export", "--user", "u", "--out", "/no/such/dir/x.zip", check=False)
    assert proc.returncode != 0 and "out" in proc.stderr + proc.stdout


def test_erase_goes_through_a_running_server(tmp_path: Path) -> None:
    from tests.helpers import Server

    data = tmp_path / "data"
    keys = init(data)
    with Server(data) as srv:
        import httpx

        sent = httpx.post(f"{srv.url}/v1/events", headers={"Authorization": f"Bearer {keys['write_key']}"},
                          json=[{"event_type": "track", "user_id": "srv-user-1", "properties": {"event": "x"}}])
        assert sent.status_code == 200 and sent.json()["accepted"] == 1
        report = json.loads(hexlake(data, "privacy", "erase", "--user", "srv-user-1", "--json").stdout)
        assert report["clean"] is True, report["text"]
        assert next(r for r in report["layers"] if r["layer"] == "log")["before"] == 1
        again = httpx.post(f"{srv.url}/v1/events", headers={"Authorization": f"Bearer {keys['write_key']}"},
                           json=[{"event_type": "track", "user_id": "srv-user-1", "properties": {"event": "y"}}])
        assert again.json()["accepted"] == 0 and again.json()["duplicates"] == 1
