"""The CLI behaves the same with and without a running server on the data dir."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import Server, hexlake, init

pytestmark = pytest.mark.slow


def _events(prefix: str) -> str:
    rows = [{"event_id": f"{prefix}-{i}", "event_type": "track", "user_id": f"u{i % 3}",
             "timestamp": "2026-11-20T10:00:00Z", "properties": {"event": "tap"}} for i in range(5)]
    rows.append({"event_id": f"{prefix}-bad", "event_type": "location_ping", "user_id": "u1",
                 "properties": {"location": {"lat": 999, "lng": 0}}})
    return "\n".join(json.dumps(r) for r in rows)


def _session(data: Path, prefix: str) -> dict:
    f = data.parent / f"{prefix}.ndjson"
    f.write_text(_events(prefix))
    sent = hexlake(data, "send", str(f), "--json", check=False)
    assert sent.returncode == 2, sent.stderr  # quarantined events make `send` exit non-zero
    hexlake(data, "load")
    rows = json.loads(hexlake(data, "query", f"SELECT count(*) AS n FROM raw_events WHERE event_id LIKE "
                              f"'{prefix}-%'", "--format", "json").stdout)
    quarantine = json.loads(hexlake(data, "quarantine", "list", "--json").stdout)
    status = json.loads(hexlake(data, "log", "status", "--json").stdout)
    return {"sent": json.loads(sent.stdout), "rows": rows, "quarantined": len(quarantine["items"]),
            "groups": {g["group"] for g in status["groups"]}}


def test_commands_give_the_same_results_through_the_server_and_locally(tmp_path: Path) -> None:
    data = tmp_path / "data"
    init(data)
    local = _session(data, "local")
    with Server(data, background=False):
        remote = _session(data, "remote")
        # While the server owns the warehouse, the CLI must not open it itself.
        assert "server" not in hexlake(data, "query", "SELECT 1 AS x").stderr.lower()
    assert local["sent"]["accepted"] == remote["sent"]["accepted"] == 5
    assert local["sent"]["quarantined"] == remote["sent"]["quarantined"] == 1
    assert local["rows"] == remote["rows"] == [{"n": 5}]
    assert (local["quarantined"], remote["quarantined"]) == (1, 2)
    assert "raw_loader" in local["groups"] and local["groups"] == remote["groups"]


def test_bad_input_gives_a_clear_error_and_nonzero_exit(tmp_path: Path) -> None:
    data = tmp_path / "data"
    missing = hexlake(data, "query", "SELECT 1", check=False)
    assert missing.returncode == 1 and "hexlake init" in missing.stderr and "Traceback" not in missing.stderr
    init(data)
    again = hexlake(data, "init", check=False)
    assert again.returncode == 1 and "already initialised" in again.stderr
    write = hexlake(data, "query", "DELETE FROM raw_events", check=False)
    assert write.returncode == 1 and "read-only" in write.stderr and "Traceback" not in write.stderr
    bad_file = tmp_path / "bad.ndjson"
    bad_file.write_text('{"event_type": "track"}\n{broken\n')
    sent = hexlake(data, "send", str(bad_file), check=False)
    assert sent.returncode == 1 and ":2" in sent.stderr
