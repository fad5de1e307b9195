"""How the CLI finds a running server on its data dir and calls operations on it.

A server writes ``server.json`` (mode 0600: url, pid, admin token) when it starts and removes it on
exit. DuckDB allows one writing process, so while a server is up the CLI goes through its API; with
no server it opens the files itself. ``call`` hides which path is taken.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import msgspec

from hexlake._process import pid_alive
from hexlake.config import Settings
from hexlake.errors import HexlakeError, NotInitialised, ServiceUnavailable
from hexlake.runtime import Runtime


class ServerInfo(msgspec.Struct):
    url: str
    pid: int
    admin_token: str


def write_server_file(path: Path, url: str) -> ServerInfo:
    info = ServerInfo(url=url, pid=os.getpid(), admin_token="hxa_" + secrets.token_urlsafe(24))
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(msgspec.json.encode(info))
    os.replace(tmp, path)
    return info


def remove_server_file(path: Path, pid: int) -> None:
    info = read_server_file(path)
    if info is not None and info.pid == pid:
        path.unlink(missing_ok=True)


def read_server_file(path: Path) -> ServerInfo | None:
    try:
        return msgspec.json.decode(path.read_bytes(), type=ServerInfo)
    except (OSError, msgspec.DecodeError):
        return None


    return True


def find_server(settings: Settings) -> ServerInfo | None:
    """The server running on this data dir, if its pid is alive and it answers /healthz."""
    info = read_server_file(settings.paths.server_file)
    if info is None or not pid_alive(info.pid):
        return None
    try:
        httpx.get(f"{info.url}/healthz", timeout=2.0).raise_for_status()
    except httpx.HTTPError:
        return None
    return info


class RemoteError(HexlakeError):
    """An error answered by the server, re-raised with its message and status."""


def call_remote(info: ServerInfo, op: str, /, timeout: float = 600.0, **kwargs: Any) -> Any:
    try:
        resp = httpx.post(
            f"{info.url}/v1/admin/ops/{op}",
            content=json.dumps(kwargs, default=str),
            headers={"Authorization": f"Bearer {info.admin_token}", "Content-Type": "application/json"},
            timeout=timeout,
        )
    except httpx.HTTPError as exc:
        raise ServiceUnavailable(f"server at {info.url} did not answer: {exc}") from exc
    body = resp.json() if resp.content else None
    if resp.status_code >= 400:
        err = (body or {}).get("error", {}) if isinstance(body, dict) else {}
        error = RemoteError(err.get("message", resp.text), field=err.get("field"))
        error.status = resp.status_code
        raise error
    return body


Caller = Callable[..., Any]


@contextmanager
def session(settings: Settings) -> Iterator[Caller]:
    """A ``call(name, **kwargs)`` bound to the running server, or to one local Runtime."""
    info = find_server(settings)
    if info is not None:
        yield lambda op, /, **kwargs: call_remote(info, op, **kwargs)
        return
    from hexlake.serve import operations

    if not settings.paths.secret.exists():
        raise NotInitialised(f"{settings.data_dir} is not initialised; run `hexlake init` first")
    runtime = Runtime(settings)
    try:
        yield lambda op, /, **kwargs: operations.jsonable(operations.get(op)(runtime, **kwargs))
    finally:
        runtime.close()


def call(settings: Settings, op: str, /, **kwargs: Any) -> Any:
    """Run operation ``op`` through the running server, or locally when there is none."""
    with session(settings) as run:
        return run(op, **kwargs)


__all__ = ["ServerInfo", "call", "call_remote", "find_server", "read_server_file", "session", "write_server_file"]
