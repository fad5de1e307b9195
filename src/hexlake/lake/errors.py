"""Errors of the lake and the tiers."""

from hexlake.errors import HexlakeError, Terminal, Transient


class LakeError(HexlakeError, Transient):
    """The lake could not be written (a catalog commit conflict, a full disk); re-run to finish."""


class LakeConfigError(HexlakeError, Terminal):
    """A bad catalog URL or lake setting."""

    status = 400


__all__ = ["LakeConfigError", "LakeError"]
