"""``hexlake doctor``: what is wrong with a data dir and its services, and (``--fix``) its file modes.

Runs in the CLI's process, never through the server: it must work when the server will not start
(e.g. because the secret is readable by others).
"""

from __future__ import annotations

import socket
import stat
from urllib.parse import urlsplit

import msgspec

from hexlake.config import Settings
from hexlake.ops.modes import fix_modes, mode_problems

_DEFAULT_PORTS = {"postgresql": 5432, "postgres": 5432, "redis": 6379, "rediss": 6379, "nats": 4222,
                  "mysql": 3306, "mariadb": 3306}


class Check(msgspec.Struct):
    """One line of the report."""

    check: str
    ok: bool
    detail: str


def diagnose(settings: Settings, *, fix: bool = False) -> list[Check]:
    """Every check; with ``fix``, loose modes (the secret's included) are tightened first."""
    root = settings.paths.root
    if not settings.paths.secret.exists():
        return [Check("data dir", False, f"{root} is not initialised; run `hexlake init`")]
    checks: list[Check] = []
    if fix:
        fixed = fix_modes(root)
        checks.append(Check("fix modes", True, f"tightened {len(fixed)} path(s) to owner-only"))
    checks += [_secret(settings), _modes(settings), _server(settings)]
    checks += [_service(name, url) for name, url in (
        ("log", settings.log_url), ("warehouse", settings.warehouse_url), ("online store", settings.online_url))
        if url]
    return checks


def _secret(settings: Settings) -> Check:
    st = settings.paths.secret.stat()
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o077:
        return Check("secret", False, f"{settings.paths.secret} has mode {mode:04o}: others can read it; the "
                     "server refuses to start. Run `hexlake doctor --fix` (and rotate keys if it leaked)")
    if st.st_size < 16:
        return Check("secret", False, f"{settings.paths.secret} is {st.st_size} bytes: damaged")
    return Check("secret", True, f"mode {mode:04o}, {st.st_size} bytes")


def _modes(settings: Settings) -> Check:
    problems = mode_problems(settings.paths.root)
    if not problems:
        return Check("file modes", True, "every directory 0700 or tighter, every file 0600 or tighter")
    shown = "; ".join(f"{p.path} {p.mode}" for p in problems[:5])
    more = f" (+{len(problems) - 5} more)" if len(problems) > 5 else ""
    return Check("file modes", False, f"{len(problems)} path(s) readable by others: {shown}{more}; "
                 "run `hexlake doctor --fix`")


def _server(settings: Settings) -> Check:
    from hexlake.serve.client import find_server, read_server_file

    info = find_server(settings)
    if info is not None:
        return Check("server", True, f"running at {info.url} (pid {info.pid})")
    stale = read_server_file(settings.paths.server_file)
    detail = f"not running (stale server.json for pid {stale.pid})" if stale else "not running"
    return Check("server", True, detail)


def _service(name: str, url: str) -> Check:
    parts = urlsplit(url)
    scheme = parts.scheme.split("+")[0]
    if scheme in ("", "sqlite", "duckdb", "file"):
        return Check(name, True, f"embedded ({scheme or 'file'})")
    host, port = parts.hostname or "127.0.0.1", parts.port or _DEFAULT_PORTS.get(scheme)
    if port is None:
        return Check(name, True, f"{scheme}: not checked")
    try:
        with socket.create_connection((host, port), timeout=2.0):
            return Check(name, True, f"{scheme} at {host}:{port} reachable")
    except OSError as exc:
        return Check(name, False, f"{scheme} at {host}:{port} unreachable: {exc}")


__all__ = ["Check", "diagnose"]
