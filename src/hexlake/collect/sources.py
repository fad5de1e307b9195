"""Sources, and every key (write, read, admin, subject) with its scopes and lifecycle, in the catalog.

Only SHA-256 digests of keys are stored; the plain key is shown once, when created or rotated.
Keys may expire (``expires_at``); a rotated key stays valid until its grace period ends
(``grace_until``). Lookups are cached for a second in a bounded LRU (bogus keys cannot grow memory),
so a revocation made by another process takes effect within a second without a database read per
request. Data dirs made before keys had kinds keep working: their ``sources``/``read_keys`` rows are
copied into ``keys`` when the catalog is opened.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec

from hexlake.catalog import connect_catalog
from hexlake.errors import BadRequest, Conflict, Forbidden, NotFound, Unauthorized
from hexlake.gate.envelope import SourceInfo
from hexlake.runtime import Runtime
from hexlake.serve.principal import KINDS, READ_APIS, WRITE_APIS, Principal, parse_rate

POLICIES = ("accept", "quarantine", "reject")
_CACHE_TTL_S = 1.0
_PREFIX = {"write": "hxw_", "read": "hxr_", "admin": "hxk_", "subject": "hxs_"}

_DDL = """
CREATE TABLE IF NOT EXISTS sources (
    name TEXT PRIMARY KEY,
    key_digest TEXT NOT NULL UNIQUE,
    unknown_events TEXT NOT NULL DEFAULT 'accept',
    geoip INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
CREATE TABLE IF NOT EXISTS read_keys (
    name TEXT PRIMARY KEY,
    key_digest TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
CREATE TABLE IF NOT EXISTS keys (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    source TEXT,
    subject TEXT,
    apis TEXT,
    marts TEXT,
    columns TEXT,
    rate TEXT,
    key_digest TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    expires_at TEXT,
    grace_until TEXT,
    revoked_at TEXT,
    rotated_to TEXT
);
CREATE INDEX IF NOT EXISTS keys_name ON keys (name);
-- Keys of data dirs made before kinds existed (idempotent: digests are unique).
INSERT OR IGNORE INTO keys (id, kind, name, source, key_digest, created_at, revoked_at)
    SELECT 'k_' || substr(key_digest, 1, 12), 'write', name, name, key_digest, created_at, revoked_at
    FROM sources;
INSERT OR IGNORE INTO keys (id, kind, name, key_digest, created_at, revoked_at)
    SELECT 'k_' || substr(key_digest, 1, 12), 'read', name, key_digest, created_at, revoked_at FROM read_keys;
"""

_COLUMNS = ("id, kind, name, source, subject, apis, marts, columns, rate, key_digest, created_at, expires_at, "
            "grace_until, revoked_at, rotated_to")

_K_COLUMNS = ", ".join("k." + c.strip() for c in _COLUMNS.split(","))


class SourceRow(msgspec.Struct, kw_only=True):
    name: str
    unknown_events: str
    geoip: bool
    created_at: str
    revoked_at: str | None


class KeyRow(msgspec.Struct, kw_only=True):
    """A key as listed (never its plain value)."""

    id: str
    kind: str
    name: str
    source: str | None
    subject: str | None
    apis: list[str] | None
    marts: list[str] | None
    columns: list[str] | None
    rate: str | None
    created_at: str
    expires_at: str | None
    grace_until: str | None
    revoked_at: str | None
    rotated_to: str | None
    status: str


class _Entry(msgspec.Struct):
    """A cached lookup: the key's digest, principal, source and lifecycle instants (epoch seconds)."""

    digest: str
    principal: Principal
    source: SourceInfo | None
    expires: float | None
    grace: float | None
    revoked: bool


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def _epoch(text: str | None) -> float | None:
    return datetime.fromisoformat(text).timestamp() if text else None


def _names(values: Iterable[str] | None, field: str, allowed: Iterable[str] | None = None) -> list[str] | None:
    if values is None:
        return None
    names = sorted({v.strip() for v in values if v and v.strip()})
    if not names:
        raise BadRequest(f"{field} must name at least one entry (omit it for no limit)", field=field)
    if allowed is not None:
        unknown = [n for n in names if n not in set(allowed)]
        if unknown:
            raise BadRequest(f"unknown {field}: {', '.join(unknown)}; known: {', '.join(allowed)}", field=field)
    return names


def _status(row: dict[str, Any], now: float) -> str:
    if row["revoked_at"]:
        return "revoked"
    if row["grace_until"] and (_epoch(row["grace_until"]) or 0) <= now:
        return "rotated"
    if row["expires_at"] and (_epoch(row["expires_at"]) or 0) <= now:
        return "expired"
    return "grace" if row["grace_until"] else "active"


class KeyStore:
    """Sources and keys of one data dir."""

    def __init__(self, catalog_db: Path, *, secret: Path | None = None, cache_size: int = 10_000):
        self._conn = connect_catalog(catalog_db)
        self._conn.executescript(_DDL)
        self._secret = secret
        self._lock = threading.Lock()
        self._cache: OrderedDict[str, tuple[float, _Entry | None]] = OrderedDict()
        self._cache_size = max(1, cache_size)

    # --- sources ---------------------------------------------------------------------------------
    def create_source(self, name: str, *, unknown_events: str = "accept", geoip: bool = False) -> str:
        """Create a source (or re-create a revoked one) and return its write key (shown only now)."""
        if unknown_events not in POLICIES:
            raise BadRequest(f"unknown_events must be one of {', '.join(POLICIES)}", field="unknown_events")
        if not name or not name.replace("-", "").replace("_", "").isalnum():
            raise BadRequest("source name must be letters, digits, '-' or '_'", field="name")
        if name.startswith("hexlake-"):
            raise BadRequest("source names starting with 'hexlake-' are reserved for hexlake itself", field="name")
        key = _PREFIX["write"] + secrets.token_urlsafe(24)
        now = _iso(_now())
        with self._lock, self._conn:
            old = self._conn.execute("SELECT revoked_at FROM sources WHERE name = ?", (name,)).fetchone()
            if old is not None and old[0] is None:
                raise Conflict(f"source {name!r} already exists; `hexlake keys rotate {name}` gives it a new "
                               "write key", field="name")
            if old is None:
                self._conn.execute("INSERT INTO sources VALUES (?, ?, ?, ?, ?, NULL)",
                                   (name, _digest(key), unknown_events, int(geoip), now))
            else:  # re-created after a revoke: same name, new key and settings
                self._conn.execute(
                    "UPDATE sources SET key_digest = ?, unknown_events = ?, geoip = ?, revoked_at = NULL "
                    "WHERE name = ?", (_digest(key), unknown_events, int(geoip), name))
            self._insert(key, kind="write", name=name, source=name)
        return key

    def list_sources(self) -> list[SourceRow]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT name, unknown_events, geoip, created_at, revoked_at FROM sources ORDER BY name"
            ).fetchall()
        return [SourceRow(name=r[0], unknown_events=r[1], geoip=bool(r[2]), created_at=r[3], revoked_at=r[4])
                for r in rows]

    def revoke_source(self, name: str) -> None:
        """Revoke a source and every write key it has."""
        now = _iso(_now())
        with self._lock, self._conn:
            cur = self._conn.execute(
                "UPDATE sources SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL", (now, name))
            self._conn.execute("UPDATE keys SET revoked_at = ? WHERE kind = 'write' AND source = ? "
                               "AND revoked_at IS NULL", (now, name))
        if cur.rowcount == 0:
            raise NotFound(f"no active source named {name!r}", field="name")
        self._clear_cache()

    # --- keys ------------------------------------------------------------------------------------
    def create_key(
        self, kind: str, name: str | None = None, *, source: str | None = None, subject: str | None = None,
        apis: Iterable[str] | None = None, marts: Iterable[str] | None = None,
        columns: Iterable[str] | None = None, rate: str | None = None, expires_in: float | None = None,
    ) -> tuple[str, KeyRow]:
        """Create a key of ``kind``; returns ``(plain key, row)``. The plain key is never stored."""
        if kind not in KINDS:
            raise BadRequest(f"kind must be one of {', '.join(KINDS)}", field="kind")
        if kind == "write":
            if not source:
                raise BadRequest("a write key needs --source", field="source")
            if self._active_source(source) is None:
                raise NotFound(f"no active source named {source!r}; `hexlake sources create {source}`",
                               field="source")
        elif source:
            raise BadRequest("only write keys belong to a source", field="source")
        if kind == "subject":
            if subject is None or str(subject) == "":
                raise BadRequest("a subject token needs the person's user id (--subject)", field="subject")
            subject = self._user_key(str(subject))
        elif subject is not None:
            raise BadRequest("only subject tokens name a subject", field="subject")
        if kind != "read" and (marts is not None or columns is not None):
            raise BadRequest("marts and columns limit read keys only", field="marts")
        if kind not in ("read", "write") and apis is not None:
            raise BadRequest("apis limit read keys and extend write keys (places, geofences) only", field="apis")
        parse_rate(rate)  # validate now; stored as written
        if expires_in is not None and expires_in <= 0:
            raise BadRequest("expires_in must be positive", field="expires_in")
        key = _PREFIX[kind] + secrets.token_urlsafe(24)
        expires = _now() + timedelta(seconds=expires_in) if expires_in else None
        with self._lock, self._conn:
            key_id = self._insert(
                key, kind=kind, name=name or source or kind, source=source, subject=subject,
                apis=_names(apis, "apis", READ_APIS if kind == "read" else WRITE_APIS), marts=_names(marts, "marts"),
                columns=_names(columns, "columns"), rate=rate or None, expires_at=_iso(expires),
            )
        return key, self.get_key(key_id)

    def create_read_key(self, name: str) -> str:
        """A read key for every read API and mart (what ``hexlake init`` prints)."""
        return self.create_key("read", name)[0]

    def list_keys(self, *, include_inactive: bool = False, kind: str | None = None) -> list[KeyRow]:
        with self._lock:
            cur = self._conn.execute(f"SELECT {_COLUMNS} FROM keys ORDER BY kind, name, created_at")
            names = [d[0] for d in cur.description]
            rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
        out = [self._row(r) for r in rows if kind is None or r["kind"] == kind]
        return out if include_inactive else [r for r in out if r.status in ("active", "grace")]

    def get_key(self, ref: str, kind: str | None = None) -> KeyRow:
        """A key by id, or by name (of ``kind``, if given) when exactly one active key has it."""
        rows = self.list_keys(include_inactive=True, kind=kind)
        by_id = [r for r in rows if r.id == ref]
        if by_id:
            return by_id[0]
        named = [r for r in rows if r.name == ref and r.status in ("active", "grace")]
        if not named:
            raise NotFound(f"no active key with id or name {ref!r}; see `hexlake keys list`", field="key")
        if len(named) > 1:
            ids = ", ".join(r.id for r in named)
            raise Conflict(f"{len(named)} active keys are named {ref!r} ({ids}); give the key id or the kind",
                           field="key")
        return named[0]

    def revoke_key(self, ref: str, kind: str | None = None) -> KeyRow:
        row = self.get_key(ref, kind)
        if row.revoked_at:
            raise NotFound(f"key {row.id} is already revoked", field="key")
        with self._lock, self._conn:
            self._conn.execute("UPDATE keys SET revoked_at = ? WHERE id = ?", (_iso(_now()), row.id))
        self._clear_cache()
        return self.get_key(row.id)

    def rotate_key(
        self, ref: str, *, kind: str | None = None, grace: float = 0.0, expires_in: float | None = None
    ) -> tuple[str, KeyRow]:
        """A new key with the same kind and scopes; the old one works ``grace`` seconds more, then not."""
        old = self.get_key(ref, kind)
        if old.status not in ("active", "grace"):
            raise Conflict(f"key {old.id} is {old.status}; only an active key can be rotated", field="key")
        if grace < 0:
            raise BadRequest("grace must not be negative", field="grace")
        if expires_in is None and old.expires_at:
            expires_in = max(1.0, (_epoch(old.expires_at) or 0) - (_epoch(old.created_at) or 0))
        key = _PREFIX[old.kind] + secrets.token_urlsafe(24)
        now = _now()
        expires = now + timedelta(seconds=expires_in) if expires_in else None
        with self._lock, self._conn:
            new_id = self._insert(key, kind=old.kind, name=old.name, source=old.source, subject=old.subject,
                                  apis=old.apis, marts=old.marts, columns=old.columns, rate=old.rate,
                                  expires_at=_iso(expires))
            if grace > 0:
                self._conn.execute("UPDATE keys SET grace_until = ?, rotated_to = ? WHERE id = ?",
                                   (_iso(now + timedelta(seconds=grace)), new_id, old.id))
            else:
                self._conn.execute("UPDATE keys SET revoked_at = ?, rotated_to = ? WHERE id = ?",
                                   (_iso(now), new_id, old.id))
        self._clear_cache()
        return key, self.get_key(new_id)

    # --- resolving a presented key -----------------------------------------------------------------
    def resolve(self, key: str) -> Principal:
        """The principal of a valid key, or ``Unauthorized`` (unknown, revoked, expired, rotated)."""
        return self._valid(key)[0]

    def resolve_full(self, key: str) -> tuple[Principal, SourceInfo | None]:
        """The principal of a valid key and, for a write key, its source."""
        return self._valid(key)

    def resolve_write_key(self, key: str) -> SourceInfo:
        """The source of a valid write key; ``Unauthorized``/``Forbidden`` otherwise."""
        return self.resolve_writer(key)[1]

    def resolve_writer(self, key: str) -> tuple[Principal, SourceInfo]:
        """A valid write key's principal and source; ``Unauthorized``/``Forbidden`` otherwise."""
        principal, source = self._valid(key)
        if principal.kind != "write" or source is None:
            raise Forbidden(f"a {principal.kind} key cannot send events; use the source's write key")
        return principal, source

    def check_read_key(self, key: str) -> None:
        """Kept for callers of the old API: any read key passes."""
        if self.resolve(key).kind != "read":
            raise Forbidden("this route needs a read key")

    def cache_len(self) -> int:
        return len(self._cache)

    def _valid(self, key: str) -> tuple[Principal, SourceInfo | None]:
        digest = _digest(key)
        entry = self._lookup(digest)
        # The lookup is by digest; compare again in constant time so no path depends on a prefix match.
        if entry is None or not hmac.compare_digest(entry.digest, digest):
            raise Unauthorized("unknown key")
        now = time.time()
        if entry.revoked:
            raise Unauthorized(f"key {entry.principal.key_id} is revoked")
        if entry.expires is not None and entry.expires <= now:
            raise Unauthorized(f"key {entry.principal.key_id} has expired")
        if entry.grace is not None and entry.grace <= now:
            raise Unauthorized(f"key {entry.principal.key_id} was rotated and its grace period is over")
        return entry.principal, entry.source

    def _lookup(self, digest: str) -> _Entry | None:
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(digest)
            if hit is not None and now - hit[0] < _CACHE_TTL_S:
                self._cache.move_to_end(digest)
                return hit[1]
            entry = self._load(digest)
            self._cache[digest] = (now, entry)
            self._cache.move_to_end(digest)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return entry

    def _load(self, digest: str) -> _Entry | None:
        r = self._conn.execute(f"SELECT {_K_COLUMNS}, s.unknown_events, s.geoip FROM keys k "
                               "LEFT JOIN sources s ON s.name = k.source WHERE k.key_digest = ?", (digest,)).fetchone()
        if r is None:
            return None
        (key_id, kind, name, source, subject, apis, marts, columns, rate, key_digest, _created, expires_at,
         grace_until, revoked_at, _rotated, unknown_events, geoip) = r
        principal = Principal(
            key_id=key_id, kind=kind, name=name, source=source, subject=subject, rate=rate,
            apis=_frozen(apis), marts=_frozen(marts), columns=_frozen(columns),
        )
        info = SourceInfo(name=source, unknown_events=unknown_events or "accept", geoip=bool(geoip)) \
            if kind == "write" and source else None
        return _Entry(digest=key_digest, principal=principal, source=info, expires=_epoch(expires_at),
                      grace=_epoch(grace_until), revoked=revoked_at is not None)

    # --- helpers ---------------------------------------------------------------------------------
    def _insert(self, key: str, *, kind: str, name: str, source: str | None = None, subject: str | None = None,
                apis: list[str] | None = None, marts: list[str] | None = None, columns: list[str] | None = None,
                rate: str | None = None, expires_at: str | None = None) -> str:
        key_id = "k_" + secrets.token_hex(6)
        self._conn.execute(
            f"INSERT INTO keys ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, NULL)",
            (key_id, kind, name, source, subject, _json(apis), _json(marts), _json(columns), rate, _digest(key),
             _iso(_now()), expires_at),
        )
        return key_id

    def _active_source(self, name: str) -> str | None:
        with self._lock:
            row = self._conn.execute("SELECT name FROM sources WHERE name = ? AND revoked_at IS NULL",
                                     (name,)).fetchone()
        return row[0] if row else None

    def _user_key(self, user_id: str) -> str:
        from hexlake.privacy.hashing import Hasher
        from hexlake.privacy.secret import load_secret

        if self._secret is None:
            raise BadRequest("subject tokens need the data dir's secret", field="subject")
        return str(Hasher(load_secret(self._secret), memo_size=1).user_key(user_id))

    def _row(self, r: dict[str, Any]) -> KeyRow:
        return KeyRow(
            id=r["id"], kind=r["kind"], name=r["name"], source=r["source"], subject=r["subject"],
            apis=_list(r["apis"]), marts=_list(r["marts"]), columns=_list(r["columns"]), rate=r["rate"],
            created_at=r["created_at"], expires_at=r["expires_at"], grace_until=r["grace_until"],
            revoked_at=r["revoked_at"], rotated_to=r["rotated_to"], status=_status(r, time.time()),
        )

    def _clear_cache(self) -> None:
        with self._lock:
            self._cache.clear()

    def close(self) -> None:
        self._conn.close()


def _json(values: list[str] | None) -> str | None:
    return json.dumps(values) if values is not None else None


def _list(text: str | None) -> list[str] | None:
    return list(json.loads(text)) if text else None


def _frozen(text: str | None) -> frozenset[str] | None:
    return frozenset(json.loads(text)) if text else None


def get_keystore(runtime: Runtime) -> KeyStore:
    return runtime.resource("keystore", lambda rt: KeyStore(
        rt.paths.catalog_db, secret=rt.paths.secret, cache_size=rt.settings.serve.auth_cache_size))


def resolve_write_key(runtime: Runtime, key: str) -> SourceInfo:
    """Resolve a write key (e.g. Segment's ``writeKey`` in a body) to its source, within its rate limit."""
    from hexlake.serve.ratelimit import get_limiter

    principal, source = get_keystore(runtime).resolve_writer(key)
    get_limiter(runtime).take(principal, "ingest")
    return source


__all__ = ["POLICIES", "KeyRow", "KeyStore", "SourceRow", "get_keystore", "resolve_write_key"]
