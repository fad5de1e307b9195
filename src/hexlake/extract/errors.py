"""Errors of the extraction stage."""

from hexlake.errors import HexlakeError, Terminal, Transient


class ExtractError(HexlakeError, Transient):
    """The source or the warehouse failed during an extraction; re-running resumes from the mark."""


class ExtractConfigError(HexlakeError, Terminal):
    """A bad source URL, table name, cursor column or PII policy."""


__all__ = ["ExtractConfigError", "ExtractError"]
