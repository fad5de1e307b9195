"""The online feature store contract: latest feature values per entity, each with a TTL.

Keys are namespaced strings (``user:<user_key>``). A read never returns an expired value, whatever
the backend's own expiry mechanism does. Values are JSON objects.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

FeatureRow = dict[str, Any]


@runtime_checkable
class OnlineStore(Protocol):
    """Embedded SQLite by default; Redis plugs in through the same methods."""

    def get(self, key: str) -> FeatureRow | None:
        """The unexpired value of ``key``, or None."""
        ...

    def get_many(self, keys: Sequence[str]) -> dict[str, FeatureRow]:
        """Unexpired values of ``keys``; missing or expired keys are absent from the result."""
        ...

    def put_many(self, items: Sequence[tuple[str, FeatureRow]], ttl_s: float) -> None:
        """Overwrite the values of the given keys; each expires ``ttl_s`` seconds from now."""
        ...

    def delete(self, keys: Sequence[str]) -> int:
        """Remove keys (GDPR erasure); return how many existed."""
        ...

    def close(self) -> None: ...


def user_entity(user_key: str) -> str:
    """The online-store key of a user's window features."""
    return f"user:{user_key}"


__all__ = ["FeatureRow", "OnlineStore", "user_entity"]
