"""Privacy operations the CLI calls through ``cli_common.call`` (in the server when one runs: the
server owns the warehouse file and the consumers' state)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hexlake.errors import BadRequest
from hexlake.runtime import Runtime

MAX_USER_ID = 256


def check_user_id(user_id: Any) -> str:
    """A plain user id as the app sends it (string or integer), or ``BadRequest`` naming the field."""
    if isinstance(user_id, bool) or not isinstance(user_id, str | int):
        raise BadRequest("user_id must be a string or an integer", field="user_id")
    text = str(user_id)
    if not text.strip() or len(text) > MAX_USER_ID:
        raise BadRequest(f"user_id must be 1 to {MAX_USER_ID} characters", field="user_id")
    return text


def privacy_erase(runtime: Runtime, user_id: str, wait: bool = False) -> dict[str, Any]:
    """Erase the person from every layer; the proof report (``text`` holds its printable form).
    ``wait`` recomputes the aggregate marts before answering instead of queueing their days."""
    from hexlake.privacy.erase import erase

    if not isinstance(wait, bool):
        raise BadRequest("wait must be true or false", field="wait")
    report = erase(runtime, check_user_id(user_id), wait=wait)
    return {**report.to_dict(), "text": report.to_text()}


def privacy_export(runtime: Runtime, user_id: str, out: str) -> dict[str, Any]:
    """Write the person's zip to ``out`` (an absolute path on the server's machine); rows per file."""
    from pathlib import Path

    from hexlake.privacy.export import export_zip

    path = Path(str(out))
    if not path.is_absolute() or not path.parent.is_dir():
        raise BadRequest("out must be an absolute path in an existing folder", field="out")
    return {"path": str(path), "files": export_zip(runtime, check_user_id(user_id), path)}


def privacy_retention(runtime: Runtime, dry_run: bool = False) -> dict[str, Any]:
    """Delete (or count, ``dry_run``) events older than their retention class, in every layer."""
    from hexlake.privacy.retention import enforce

    return enforce(runtime, dry_run=bool(dry_run))


def privacy_housekeeping(runtime: Runtime) -> dict[str, Any]:
    """One housekeeping pass now: quarantine expiry, uploads, retention."""
    from hexlake.privacy.service import housekeeping

    return housekeeping(runtime)


OPERATIONS: dict[str, Callable[..., Any]] = {"privacy_erase": privacy_erase, "privacy_retention": privacy_retention,
                                             "privacy_export": privacy_export,
                                             "privacy_housekeeping": privacy_housekeeping}

__all__ = ["OPERATIONS", "check_user_id", "privacy_erase", "privacy_export", "privacy_housekeeping",
           "privacy_retention"]
