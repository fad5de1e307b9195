"""Errors of the sync stage."""

from hexlake.errors import HexlakeError, Terminal, Transient


class SyncError(HexlakeError, Transient):
    """A batch could not be written to the target; it stays ``failed`` and is retried next run."""


class SyncConfigError(HexlakeError, Terminal):
    """A bad target URL or table name."""


__all__ = ["SyncConfigError", "SyncError"]
