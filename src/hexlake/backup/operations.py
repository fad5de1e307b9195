"""Backup operations the CLI calls through ``cli_common.call`` (in the server when one runs: it owns
the warehouse file, so only it can snapshot it while running)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from hexlake.backup import archive
from hexlake.errors import BadRequest
from hexlake.runtime import Runtime


def backup_create(runtime: Runtime) -> dict[str, Any]:
    """Snapshot every store into a new archive, then delete the backups past their retention."""
    return archive.create_backup(runtime)


def backup_list(runtime: Runtime) -> list[dict[str, Any]]:
    """The backups, oldest first."""
    return archive.list_backups(archive.backup_dir(runtime))


def backup_verify(runtime: Runtime, id: str) -> dict[str, Any]:
    """Check an archive's checksums; ``ok`` is False with the problems listed when it is damaged."""
    return archive.verify_backup(archive.backup_dir(runtime), id)


def backup_restore(runtime: Runtime, id: str, target: str) -> dict[str, Any]:
    """Rebuild a data dir at ``target`` (an absolute path, new or empty) from a backup."""
    if not isinstance(target, str) or not target:
        raise BadRequest("target must be an absolute path", field="target")
    path = Path(target)
    if path.resolve() == runtime.paths.root.resolve():
        raise BadRequest("target is the live data dir; restore elsewhere, then point the server at it",
                         field="target")
    return archive.restore_backup(archive.backup_dir(runtime), id, path)


OPERATIONS: dict[str, Callable[..., Any]] = {
    "backup_create": backup_create,
    "backup_list": backup_list,
    "backup_verify": backup_verify,
    "backup_restore": backup_restore,
}
