"""Operations shared by the CLI and the API, returning plain JSON-able data.

The CLI calls these directly on a ``Runtime`` when no server owns the data dir, or through the
server's ``POST /v1/admin/ops/{name}`` when one does — the same function either way, so both paths
behave the same. ``OPERATIONS`` is the registry of what the admin endpoint may call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from hexlake.collect.ingest import ingest
from hexlake.collect.sources import get_keystore
from hexlake.errors import BadRequest, NotFound
from hexlake.gate.envelope import SourceInfo
from hexlake.gate.resources import runtime_quarantine, runtime_registry
from hexlake.runtime import Runtime
from hexlake.values import jsonable

Operation = Callable[..., Any]
OPERATIONS: dict[str, Operation] = {}


def operation(fn: Operation) -> Operation:
    OPERATIONS[fn.__name__] = fn
    return fn


def get(name: str) -> Operation:
    """The operation ``name``: the spine's own, or a stage's listed in ``plugins.OPERATIONS``
    (imported on first use, so the CLI starts without loading every stage)."""
    if name not in OPERATIONS:
        from hexlake import plugins

        for ref in plugins.OPERATIONS:
            for key, fn in plugins.load(ref).items():
                OPERATIONS.setdefault(key, fn)
    fn = OPERATIONS.get(name)
    if fn is None:
        raise NotFound(f"no operation {name!r}", field="name")
    return fn


@operation
def query(runtime: Runtime, sql: str, limit: int | None = 1000) -> dict[str, Any]:
    """Run a read-only SQL query on the warehouse, through the sandbox and audited (``hexlake.serve.query``)."""
    from hexlake.serve.query import query as sandboxed

    return sandboxed(runtime, sql, limit)


@operation
def send(runtime: Runtime, items: list[Any], source: str = "default", sent_at: Any = None) -> dict[str, Any]:
    """Ingest decoded events as ``source`` (CLI ``hexlake send``)."""
    info = _source_info(runtime, source)
    result = ingest(runtime, items, source=info, sent_at=sent_at)
    return result.to_response()


@operation
def sources_create(runtime: Runtime, name: str, unknown_events: str = "accept", geoip: bool = False) -> dict:
    key = get_keystore(runtime).create_source(name, unknown_events=unknown_events, geoip=geoip)
    return {"name": name, "write_key": key, "unknown_events": unknown_events}


@operation
def read_keys_create(runtime: Runtime, name: str) -> dict[str, Any]:
    return {"name": name, "read_key": get_keystore(runtime).create_read_key(name)}


@operation
def keys_create(
    runtime: Runtime, kind: str, name: str | None = None, source: str | None = None, subject: str | None = None,
    apis: list[str] | None = None, marts: list[str] | None = None, columns: list[str] | None = None,
    rate: str | None = None, expires_in: str | None = None,
) -> dict[str, Any]:
    """Create a key of any kind; the plain key is in ``key`` and shown only now."""
    from hexlake.serve.principal import parse_duration

    key, row = get_keystore(runtime).create_key(
        kind, name, source=source, subject=subject, apis=apis, marts=marts, columns=columns, rate=rate,
        expires_in=parse_duration(expires_in, field="expires_in"),
    )
    return {"key": key, **msgspec.to_builtins(row)}


@operation
def keys_list(runtime: Runtime, all: bool = False, kind: str | None = None) -> list[dict[str, Any]]:
    """Keys (never their values): active and in-grace ones, or ``all`` with revoked/expired/rotated."""
    return [msgspec.to_builtins(r) for r in get_keystore(runtime).list_keys(include_inactive=all, kind=kind)]


@operation
def keys_revoke(runtime: Runtime, key: str, kind: str | None = None) -> dict[str, Any]:
    """Revoke a key by id (or by name when one active key has it): it gets 401 within a second."""
    return dict(msgspec.to_builtins(get_keystore(runtime).revoke_key(key, kind)))


@operation
def keys_rotate(
    runtime: Runtime, key: str, kind: str | None = None, grace: str | None = None, expires_in: str | None = None
) -> dict[str, Any]:
    """A new key with the same scopes; the old one keeps working for ``grace`` (default serve.rotation_grace)."""
    from hexlake.serve.principal import parse_duration

    grace_s = parse_duration(grace if grace is not None else runtime.settings.serve.rotation_grace, field="grace")
    new, row = get_keystore(runtime).rotate_key(
        key, kind=kind, grace=grace_s or 0.0, expires_in=parse_duration(expires_in, field="expires_in"))
    return {"key": new, **msgspec.to_builtins(row)}


@operation
def sources_list(runtime: Runtime) -> list[dict[str, Any]]:
    return [msgspec.to_builtins(s) for s in get_keystore(runtime).list_sources()]


@operation
def sources_revoke(runtime: Runtime, name: str) -> dict[str, Any]:
    get_keystore(runtime).revoke_source(name)
    return {"name": name, "revoked": True}


@operation
def schemas_list(runtime: Runtime) -> list[dict[str, Any]]:
    return jsonable(msgspec.to_builtins(runtime_registry(runtime).list()))


@operation
def schemas_show(runtime: Runtime, event_type: str, version: int | None = None) -> dict[str, Any]:
    schema = runtime_registry(runtime).get(event_type, version)
    if schema is None:
        raise NotFound(f"no schema for event type {event_type!r}", field="event_type")
    return jsonable(msgspec.to_builtins(schema))


@operation
def schemas_add(runtime: Runtime, schema: dict[str, Any]) -> dict[str, Any]:
    added = runtime_registry(runtime).add(schema)
    return jsonable(msgspec.to_builtins(added))


@operation
def quarantine_list(
    runtime: Runtime, status: str | None = "open", event_type: str | None = None,
    source: str | None = None, limit: int = 50, offset: int = 0,
) -> dict[str, Any]:
    store = runtime_quarantine(runtime)
    rows = store.list(status=status, event_type=event_type, source=source, limit=limit, offset=offset)
    return {"items": jsonable(msgspec.to_builtins(rows)), "counts": jsonable(msgspec.to_builtins(store.counts()))}


@operation
def quarantine_show(runtime: Runtime, id: int) -> dict[str, Any]:
    row = runtime_quarantine(runtime).get(id)
    if row is None:
        raise NotFound(f"no quarantined event with id {id}", field="id")
    return jsonable(msgspec.to_builtins(row))


@operation
def quarantine_fix(runtime: Runtime, id: int, payload: Any) -> dict[str, Any]:
    """Replace a quarantined event's payload (then replay it)."""
    quarantine_show(runtime, id)
    runtime_quarantine(runtime).update_payload(id, payload)
    return {"id": id, "updated": True}


@operation
def quarantine_replay(runtime: Runtime, ids: list[int] | None = None) -> dict[str, Any]:
    """Send open quarantined events through the gate again; those that now pass are appended."""
    store = runtime_quarantine(runtime)
    rows = [store.get(i) for i in ids] if ids else store.list(status="open", limit=100_000)
    replayed, still_failing = [], []
    for row in rows:
        if row is None:
            continue
        r = msgspec.to_builtins(row)
        try:
            info = _source_info(runtime, r["source"], unknown_events="quarantine")
        except BadRequest as exc:  # one row's deleted source must not stop the others
            still_failing.append({"id": r["id"], "errors": [{"message": exc.message}]})
            continue
        result = ingest(runtime, [r["payload"]], source=info, store_quarantine=False)
        if result.accepted or result.duplicates:
            replayed.append(r["id"])
        else:
            still_failing.append({"id": r["id"], "errors": msgspec.to_builtins(result.errors)})
    if replayed:
        store.mark(replayed, "replayed")
    return {"replayed": replayed, "still_failing": still_failing}


@operation
def log_status(runtime: Runtime) -> dict[str, Any]:
    from hexlake.log import get_log_reader

    log = get_log_reader(runtime)
    groups = [msgspec.to_builtins(g) for g in log.status()]
    return {"head_offset": log.head_offset(), "groups": groups}


@operation
def load_once(runtime: Runtime) -> dict[str, Any]:
    """Move everything in the log into ``raw_events`` now."""
    from hexlake.log import get_log
    from hexlake.warehouse import get_warehouse, make_raw_loader  # DuckDB or PostgreSQL warehouse

    loader = make_raw_loader(get_log(runtime), get_warehouse(runtime), runtime.settings.warehouse)
    return {"rows": loader.run_once()}


def _source_info(runtime: Runtime, name: str, unknown_events: str | None = None) -> SourceInfo:
    for row in get_keystore(runtime).list_sources():
        if row.name == name:
            return SourceInfo(name=name, unknown_events=unknown_events or row.unknown_events, geoip=row.geoip)
    if name == "takeout":  # the Takeout importer's source; its schemas may not be registered yet
        from hexlake.importers.service import replay_source

        return replay_source(runtime)
    if name.startswith("hexlake-"):  # internal sources (importers, stream): schemaless accepted
        return SourceInfo(name=name, unknown_events=unknown_events or "accept", internal=True)
    raise BadRequest(f"no source named {name!r}; create it with `hexlake sources create`", field="source")


__all__ = ["OPERATIONS", "get", "jsonable", "operation"]
