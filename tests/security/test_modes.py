"""File modes: nobody but the owner can read the data dir; a loose secret stops the server; doctor fixes."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from hexlake.config import Settings
from hexlake.errors import ConfigError
from hexlake.serve.app import create_app
from hexlake.setup import initialise
from tests.helpers import Server, env_for, hexlake, init


def loose(root: Path) -> list[str]:
    """Every path under ``root`` (root included) that group or others may read, enter or write."""
    paths = [root, *root.rglob("*")]
    return [f"{p} {stat.S_IMODE(p.lstat().st_mode):04o}" for p in paths
            if not p.is_symlink() and stat.S_IMODE(p.lstat().st_mode) & 0o077]


def loosen(root: Path) -> None:
    """What an old hexlake (or a careless copy) left: 0755 directories, 0644 files."""
    for p in [root, *root.rglob("*")]:
        p.chmod(0o755 if p.is_dir() else 0o644)


def test_init_makes_a_private_data_dir(tmp_path: Path) -> None:
    data = tmp_path / "data"
    init(data)
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert loose(data) == []


def test_a_running_server_leaves_nothing_readable_by_others(tmp_path: Path) -> None:
    data = tmp_path / "data"
    keys = init(data)
    with Server(data) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        w = {"Authorization": f"Bearer {keys['write_key']}"}
        events = [{"event_type": "app_open", "user_id": str(i), "timestamp": "2026-11-20T10:00:00Z"}
                  for i in range(50)]
        assert http.post("/v1/events", json=events, headers=w).status_code == 200
        up = http.post("/v1/uploads", json={"filename": "t.zip", "size": 10}, headers=w).json()
        chunk = b"0123456789"
        put = http.put(f"/v1/uploads/{up['id']}/chunks/0", content=chunk,
                       headers={**w, "X-Chunk-SHA256": hashlib.sha256(chunk).hexdigest()})
        assert put.status_code == 200
        time.sleep(1.5)  # let the loader and consumers write their files too
        names = {p.name for p in data.rglob("*")}
        assert {"server.json", "catalog.sqlite-wal", "log.sqlite-wal", "warehouse.duckdb"} <= names
        assert any(p.name.startswith("archive") for p in (data / "uploads").rglob("*"))
        assert loose(data) == [], loose(data)


def test_server_refuses_to_start_with_a_secret_others_can_read(tmp_path: Path) -> None:
    data = tmp_path / "data"
    init(data)
    (data / "secret.key").chmod(0o644)
    proc = subprocess.run([sys.executable, "-m", "hexlake.cli", "serve", "--port", "1"], env=env_for(data),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    message = " ".join(proc.stderr.split())
    assert message.startswith("Error:") and "0644" in message and "chmod 600" in message
    assert not (data / "server.json").exists()
    settings = Settings(data_dir=data)
    with pytest.raises(ConfigError):
        create_app(settings, background=False)
    (data / "secret.key").chmod(0o640)  # group-readable is as bad as world-readable
    with pytest.raises(ConfigError):
        create_app(settings, background=False)


def test_server_start_tightens_an_old_loose_dir_except_the_secret(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    initialise(settings)
    loosen(settings.paths.root)
    settings.paths.secret.chmod(0o600)
    create_app(settings, background=False).state.runtime.close()
    assert loose(settings.paths.root) == []


def test_doctor_reports_loose_modes_and_fix_repairs_them(tmp_path: Path) -> None:
    data = tmp_path / "data"
    init(data)
    loosen(data)
    report = hexlake(data, "doctor", "--json", check=False)
    assert report.returncode == 1
    checks = {c["check"]: c for c in json.loads(report.stdout)}
    assert not checks["secret"]["ok"] and "0644" in checks["secret"]["detail"]
    assert not checks["file modes"]["ok"] and "catalog.sqlite" in checks["file modes"]["detail"]
    fixed = hexlake(data, "doctor", "--fix", "--json")
    assert all(c["ok"] for c in json.loads(fixed.stdout))
    assert loose(data) == []
    assert hexlake(data, "doctor").returncode == 0


def test_doctor_reports_an_unreachable_service_and_an_uninitialised_dir(tmp_path: Path) -> None:
    data = tmp_path / "data"
    init(data)
    port = _closed_port()
    report = hexlake(data, "doctor", "--json", check=False, HEXLAKE_LOG_URL=f"postgresql://127.0.0.1:{port}/x")
    assert report.returncode == 1
    log = {c["check"]: c for c in json.loads(report.stdout)}["log"]
    assert not log["ok"] and "unreachable" in log["detail"]
    empty = hexlake(tmp_path / "nothing", "doctor", check=False)
    assert empty.returncode == 1 and "hexlake init" in " ".join(empty.stdout.split())


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again on exit: nothing listens there


def test_umask_applies_to_files_made_later(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    initialise(settings)
    extra = settings.paths.root / "made-later.txt"
    extra.write_text("x")
    assert stat.S_IMODE(extra.stat().st_mode) == 0o600
    os.umask(0o022)  # leave the test process as we found it for the next test's own checks
