"""Helpers for tests that run real `hexlake` processes (server and CLI) on a temp data dir."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from fastapi.testclient import TestClient

    from hexlake.runtime import Runtime


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def env_for(data_dir: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "HEXLAKE_DATA_DIR": str(data_dir), "SQLMESH__DISABLE_ANONYMIZED_ANALYTICS": "1",
            **extra}


def hexlake(data_dir: Path, *args: str, check: bool = True, timeout: float = 120,
            **env: str) -> subprocess.CompletedProcess[str]:
    """Run the real CLI in a subprocess."""
    proc = subprocess.run([sys.executable, "-m", "hexlake.cli", *args], env=env_for(data_dir, **env),
                          capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"hexlake {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


def init(data_dir: Path) -> dict[str, Any]:
    return dict(json.loads(hexlake(data_dir, "init", "--json").stdout))


class Server:
    """A `hexlake serve` subprocess on a free port."""

    def __init__(self, data_dir: Path, *, background: bool = True, **env: str):
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        args = ["serve", "--port", str(self.port)] + ([] if background else ["--no-background"])
        self.log = open(data_dir / f"server-{self.port}.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen([sys.executable, "-m", "hexlake.cli", *args],
                                     env=env_for(data_dir, **env), stdout=self.log, stderr=self.log)
        try:
            self.wait_ready()
        except BaseException:
            self.stop()  # never leave a half-started server behind
            raise

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited: {self.output()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"server not ready: {self.output()}")

    def output(self) -> str:
        self.log.flush()
        return (self.data_dir / f"server-{self.port}.log").read_text(errors="replace")[-4000:]

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def act_as(app: Any, principal: Any = None) -> None:
    """In-process test apps: every request authenticates as ``principal`` (default: an admin) with no key."""
    from hexlake.serve.principal import ADMIN_TOKEN_PRINCIPAL

    who = principal or ADMIN_TOKEN_PRINCIPAL

    @app.middleware("http")
    async def _act_as(request: Any, call_next: Any) -> Any:
        request.state.principal = who
        return await call_next(request)


def app_runtime(client: TestClient) -> Runtime:
    """The server's runtime behind an in-process ``TestClient``."""
    from fastapi import FastAPI

    app = client.app
    assert isinstance(app, FastAPI)
    runtime: Runtime = app.state.runtime
    return runtime
