"""A real ``hexlake serve`` in a subprocess on a temp data dir, for end-to-end collector tests.

``log_events()`` reads back everything the server appended to its durable log (through the log's
public ``open_log`` and a fresh consumer group) — duplicates would show there, before the
idempotent loader could hide them.
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from hexlake.gate.envelope import Event, decode_event

ROOT = Path(__file__).parents[2]
HEXLAKE = [sys.executable, "-m", "hexlake.cli"] if not (Path(sys.executable).parent / "hexlake").exists() \
    else [str(Path(sys.executable).parent / "hexlake")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class HexlakeServer:
    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.keys: dict[str, Any] = {}
        self._stderr = data_dir.parent / f"serve-{self.port}.log"

    def _env(self) -> dict[str, str]:
        return {**os.environ, "SQLMESH__DISABLE_ANONYMIZED_ANALYTICS": "1", "HEXLAKE_DATA_DIR": str(self.data_dir)}

    def cli(self, *args: str) -> Any:
        done = subprocess.run([*HEXLAKE, *args], env=self._env(), cwd=ROOT, capture_output=True, text=True,
                              timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"hexlake {' '.join(args)} failed: {done.stderr[-2000:]}")
        return json.loads(done.stdout) if "--json" in args else done.stdout

    def init(self) -> dict[str, Any]:
        self.keys = self.cli("init", "--json")
        return self.keys

    @property
    def write_key(self) -> str:
        return str(self.keys["write_key"])

    def start(self, timeout: float = 120.0) -> None:
        with self._stderr.open("ab") as errfile:
            self.proc = subprocess.Popen(
                [*HEXLAKE, "serve", "--port", str(self.port), "--no-background"], env=self._env(), cwd=ROOT,
                stdout=subprocess.DEVNULL, stderr=errfile)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"hexlake serve exited: {self._stderr.read_text()[-2000:]}")
            try:
                if httpx.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.kill()  # never leave a half-started server behind
        raise RuntimeError(f"hexlake serve did not become ready: {self._stderr.read_text()[-2000:]}")

    def kill(self) -> None:
        """SIGKILL: no graceful shutdown, no flush — a crash."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()

    def log_events(self, prefix: str = "") -> list[Event]:
        """Every event in the log (optionally whose ``event_id`` starts with ``prefix``), oldest
        first. Safe while the server runs: a fresh consumer group reads from the start."""
        from hexlake.log import open_log

        log = open_log(f"sqlite:///{self.data_dir / 'log.sqlite'}")
        group = f"verify-{time.monotonic_ns()}"
        try:
            log.create_group(group, from_start=True)
            events: list[Event] = []
            while batch := log.read(group, "verify", 5000, visibility_timeout_s=600):
                events.extend(e for m in batch if (e := decode_event(m.payload)).event_id.startswith(prefix))
                log.ack(group, [m.offset for m in batch])
            return events
        finally:
            log.close()


_shared: HexlakeServer | None = None


@pytest.fixture(scope="module")
def hexlake_server(tmp_path_factory: pytest.TempPathFactory) -> HexlakeServer:
    """One ``hexlake init`` + ``hexlake serve`` per test process (start-up is slow on a busy machine),
    shared by every end-to-end test; a test that kills it must leave it running again. Import it
    to use it. Tests tell their events apart by unique ids."""
    global _shared
    if _shared is None:
        _shared = HexlakeServer(tmp_path_factory.mktemp("hexlake") / "data")
        _shared.init()
        atexit.register(_shared.stop)
    if _shared.proc is None or _shared.proc.poll() is not None:
        _shared.start()
    return _shared
