"""Who is calling: the ``Principal`` a key resolves to, and what its scopes allow.

Kinds:

* ``write``   — one source's key: sends events, manages that source's uploads and imports.
* ``read``    — read APIs (``apis``; None = all of ``READ_APIS``), marts (``marts``; None = all) and
  optionally only some columns (``columns``: ``col`` or ``mart.col``; None = all).
* ``admin``   — everything, including ``/v1/admin/*``, quarantine, schemas, sources, transform runs.
* ``subject`` — one person's own data only (``subject`` is their ``user_key``, the gate's HMAC).

Every authenticated request carries one on ``request.state.principal`` (see ``hexlake.serve.auth``).
"""

from __future__ import annotations

import re

import msgspec

from hexlake.errors import BadRequest

KINDS = ("write", "read", "admin", "subject")
# Read APIs a read key can be limited to (``keys create --apis``); the route → API map is in docs/api.md.
READ_APIS = (
    "query", "marts", "metrics", "freshness", "places", "nearby", "heatmap", "realtime", "features",
    "geofences", "log", "recommend", "search", "pipelines",
)
# What a write key may manage besides sending events, only when created with ``--apis`` naming it: a
# write key ships inside apps, so by default it sends events and nothing else (admins manage all).
WRITE_APIS = ("places", "geofences")
# What a subject token may read about its own person (export, features, history, imports).
SUBJECT_APIS = ("features", "subjects", "imports")

_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*(s|sec|second|m|min|minute|h|hour)\s*$")
_UNIT_S = {"s": 1.0, "sec": 1.0, "second": 1.0, "m": 60.0, "min": 60.0, "minute": 60.0, "h": 3600.0,
           "hour": 3600.0}


class Rate(msgspec.Struct, frozen=True):
    """A token bucket's shape: ``burst`` tokens, refilled at ``per_second``."""

    burst: float
    per_second: float

    def __str__(self) -> str:
        return f"{self.per_second:g}/s"


def parse_rate(text: str | None, *, field: str = "rate") -> Rate | None:
    """``"100/s"``, ``"6000/min"``, ``"10/h"`` → a ``Rate`` (burst = the count); ``""``/``"off"`` → None."""
    if text is None or text.strip().lower() in ("", "off", "none", "0"):
        return None
    m = _RATE.match(text.lower())
    if m is None or float(m.group(1)) <= 0:
        raise BadRequest(f"rate {text!r} must look like 100/s, 6000/min or 10/h", field=field)
    count = float(m.group(1))
    return Rate(burst=max(1.0, count), per_second=count / _UNIT_S[m.group(2)])


_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h|d|w)\s*$")
_DURATION_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str | None, *, field: str) -> float | None:
    """``"30d"``, ``"12h"``, ``"15m"``, ``"90s"``, ``"2w"`` → seconds; None/empty → None."""
    if text is None or not text.strip():
        return None
    m = _DURATION.match(text.lower())
    if m is None:
        raise BadRequest(f"duration {text!r} must look like 30d, 12h, 15m, 90s or 2w", field=field)
    return float(int(m.group(1)) * _DURATION_S[m.group(2)])


class Principal(msgspec.Struct, frozen=True, kw_only=True):
    """A resolved key. ``apis``/``marts``/``columns`` None means unrestricted."""

    key_id: str
    kind: str
    name: str = ""
    source: str | None = None
    subject: str | None = None
    apis: frozenset[str] | None = None
    marts: frozenset[str] | None = None
    columns: frozenset[str] | None = None
    rate: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.kind == "admin"

    def can_api(self, api: str) -> bool:
        """May this key call read API ``api``? Admins may call all; subjects only ``SUBJECT_APIS``."""
        if self.kind == "admin":
            return True
        if self.kind == "subject":
            return api in SUBJECT_APIS
        return self.kind == "read" and (self.apis is None or api in self.apis)

    def can_manage(self, what: str) -> bool:
        """May this key change ``what`` (one of ``WRITE_APIS``)? Admins, and write keys created for it."""
        return self.kind == "admin" or (self.kind == "write" and self.apis is not None and what in self.apis)

    def can_mart(self, mart: str) -> bool:
        if self.kind == "admin":
            return True
        return self.kind == "read" and (self.marts is None or mart in self.marts)

    def can_column(self, mart: str, column: str) -> bool:
        if self.kind == "admin" or self.columns is None:
            return self.can_mart(mart)
        return self.can_mart(mart) and (column in self.columns or f"{mart}.{column}" in self.columns)

    def visible_columns(self, mart: str, columns: list[str]) -> list[str]:
        """The subset of a mart's ``columns`` this key may read, in order."""
        return [c for c in columns if self.can_column(mart, c)]

    def owns_source(self, source: str | None) -> bool:
        """Admins see every source's uploads and imports; a write key only its own source's."""
        return self.kind == "admin" or (self.kind == "write" and source is not None and source == self.source)


ADMIN_TOKEN_PRINCIPAL = Principal(key_id="server-admin-token", kind="admin", name="server admin token")


__all__ = [
    "ADMIN_TOKEN_PRINCIPAL", "KINDS", "READ_APIS", "SUBJECT_APIS", "WRITE_APIS", "Principal", "Rate",
    "parse_duration", "parse_rate",
]
