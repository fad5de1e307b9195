"""The schema registry: one JSON Schema per (event_type, version), kept in the catalog SQLite file.

Schemas are few and read on every event, so all of them are loaded into memory with their compiled
jsonschema-rs validator and annotation plan (``CompiledSchema``); SQLite is only the durable copy.
"""

from __future__ import annotations

import builtins
import json
import threading
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema_rs
import msgspec

from hexlake.catalog import connect_catalog
from hexlake.errors import Conflict, NotFound, SchemaError
from hexlake.gate.envelope import FailureMessage
from hexlake.gate.plan import Plan, compile_plan

MAX_MESSAGES = 20  # per event: enough to fix it, bounded so a huge bad array can't flood a response

_DDL = """
CREATE TABLE IF NOT EXISTS schemas (
    event_type TEXT NOT NULL,
    version INTEGER NOT NULL,
    schema_json TEXT NOT NULL,
    retention TEXT,
    created_at TEXT NOT NULL,
    PRIMARY KEY (event_type, version)
)
"""


class SchemaRecord(msgspec.Struct, kw_only=True):
    """A registered schema as listed/shown to users."""

    event_type: str
    version: int
    schema: dict[str, Any]
    retention: str | None
    created_at: str


class CompiledSchema:
    """A schema ready for the hot path: validator + plan (built once, shared by every event)."""

    __slots__ = ("event_type", "plan", "record", "validator", "version")

    def __init__(self, record: SchemaRecord):
        self.record = record
        self.event_type = record.event_type
        self.version = record.version
        self.validator = _validator(record.schema)
        self.plan: Plan = compile_plan(record.schema)

    def validate(self, instance: Any) -> list[FailureMessage]:
        """Failure messages (empty when valid); paths are JSON pointers into ``instance``."""
        if self.validator.is_valid(instance):  # fast path: no error objects built
            return []
        out = []
        for err in self.validator.iter_errors(instance):
            out.append(to_failure(err))
            if len(out) >= MAX_MESSAGES:
                break
        return out


def to_failure(err: Any) -> FailureMessage:
    """Map a jsonschema-rs error to ``{path, keyword, message}``.

    ``path`` is a JSON pointer to the offending value; for ``required`` it points at the missing
    property itself (``/place_id``), which is where the user has to add something.
    """
    parts = list(err.instance_path)
    keyword = next((str(p) for p in reversed(list(err.schema_path)) if isinstance(p, str)), "schema")
    if keyword == "required":
        missing = getattr(err.kind, "property", None)
        if isinstance(missing, str):
            parts.append(missing)
    path = "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)
    return FailureMessage(path=path, keyword=keyword, message=err.message)


class SchemaRegistry:
    """Schemas by event type and version. Thread-safe; reads are in-memory."""

    def __init__(self, catalog_db: Path | str, *, builtins: bool = True):
        self._db = connect_catalog(catalog_db)
        self._db.execute(_DDL)
        self._lock = threading.RLock()
        self._compiled: dict[tuple[str, int], CompiledSchema] = {}
        self._latest: dict[str, CompiledSchema] = {}
        self.reload()
        if builtins:
            self.install_builtins()

    # -- reading ---------------------------------------------------------------------------------

    def reload(self) -> None:
        """Re-read every schema from the file (another process may have added one)."""
        rows = self._db.execute(
            "SELECT event_type, version, schema_json, retention, created_at FROM schemas"
        ).fetchall()
        compiled = {}
        for et, ver, text, retention, created in rows:
            rec = SchemaRecord(event_type=et, version=ver, schema=json.loads(text),
                               retention=retention, created_at=created)
            compiled[(et, ver)] = CompiledSchema(rec)
        with self._lock:
            self._compiled = compiled
            self._latest = _latest_of(compiled)

    def compiled(self, event_type: str, version: int | None = None) -> CompiledSchema | None:
        """The hot-path lookup: the compiled schema, latest version when ``version`` is None."""
        if version is None:
            return self._latest.get(event_type)
        return self._compiled.get((event_type, version))

    def get(self, event_type: str, version: int | None = None) -> SchemaRecord | None:
        found = self.compiled(event_type, version)
        return found.record if found else None

    def list(self) -> builtins.list[SchemaRecord]:
        """Every schema, by event type then version."""
        return [c.record for _, c in sorted(self._compiled.items())]

    def versions(self, event_type: str) -> builtins.list[int]:
        return sorted(v for (et, v) in self._compiled if et == event_type)

    def validate(
        self, event_type: str, version: int | None, properties: Any
    ) -> builtins.list[FailureMessage]:
        """Validate ``properties`` against a registered schema; ``NotFound`` if there is none."""
        found = self.compiled(event_type, version)
        if found is None:
            raise NotFound(f"no schema for event type {event_type!r} version {version}", field="event_type")
        return found.validate(properties)

    # -- writing ---------------------------------------------------------------------------------

    def add(self, schema: dict[str, Any]) -> SchemaRecord:
        """Register a schema (needs ``x-event-type`` and ``x-version``); same content is a no-op.

        ``Conflict`` if that type+version exists with different content (bump ``x-version``);
        ``SchemaError`` if it is not valid JSON Schema or its annotations are wrong.
        """
        event_type, version = check_schema(schema)
        canonical = _canonical(schema)
        with self._lock:
            existing = self._compiled.get((event_type, version))
            if existing is not None:
                if _canonical(existing.record.schema) == canonical:
                    return existing.record
                raise Conflict(
                    f"schema {event_type!r} version {version} already exists with different content; "
                    f"register the change as x-version {max(self.versions(event_type)) + 1}",
                    field="x-version",
                )
            record = SchemaRecord(
                event_type=event_type, version=version, schema=json.loads(canonical),
                retention=schema.get("x-retention"), created_at=datetime.now(UTC).isoformat(),
            )
            compiled = CompiledSchema(record)
            self._db.execute(
                "INSERT OR IGNORE INTO schemas VALUES (?, ?, ?, ?, ?)",
                (event_type, version, canonical, record.retention, record.created_at),
            )
            new = dict(self._compiled)
            new[(event_type, version)] = compiled
            # Swap whole dicts: readers on other threads never see a half-updated map.
            self._compiled, self._latest = new, _latest_of(new)
            return record

    def install_builtins(self) -> builtins.list[SchemaRecord]:
        """Register the shipped schemas that are missing; existing (type, version) are left alone."""
        added = []
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")  # one commit (one fsync) for all of them
            try:
                for schema in builtin_schemas():
                    if (schema["x-event-type"], schema["x-version"]) not in self._compiled:
                        added.append(self.add(schema))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                self.reload()
                raise
        return added

    def close(self) -> None:
        self._db.close()


def check_schema(schema: Any) -> tuple[str, int]:
    """Raise ``SchemaError`` unless ``schema`` is valid JSON Schema with the hexlake annotations."""
    if not isinstance(schema, dict):
        raise SchemaError("a schema must be a JSON object", field="schema")
    event_type, version = schema.get("x-event-type"), schema.get("x-version")
    if not isinstance(event_type, str) or not event_type or len(event_type) > 128:
        raise SchemaError("the schema needs \"x-event-type\": the event type name it validates",
                          field="x-event-type")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise SchemaError("the schema needs \"x-version\": an integer ≥ 1", field="x-version")
    try:
        jsonschema_rs.meta.validate(schema)
        _validator(schema)
    except (jsonschema_rs.ValidationError, ValueError, jsonschema_rs.ReferencingError) as exc:
        message = str(exc).splitlines()[0]
        raise SchemaError(f"schema {event_type!r} v{version} is not valid JSON Schema: {message}",
                          field="schema") from exc
    compile_plan(schema)  # annotation errors surface now, not on the first event
    return event_type, version


def builtin_schemas() -> list[dict[str, Any]]:
    """The schemas shipped in ``hexlake/schemas/builtin/*.json`` (a file may hold one or a list)."""
    folder = resources.files("hexlake.schemas").joinpath("builtin")
    out: list[dict[str, Any]] = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".json"):
            data = json.loads(entry.read_text(encoding="utf-8"))
            out.extend(data if isinstance(data, list) else [data])
    return out


def _validator(schema: dict[str, Any]) -> Any:
    return jsonschema_rs.validator_for(schema)


def _canonical(schema: dict[str, Any]) -> str:
    return json.dumps(schema, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _latest_of(compiled: dict[tuple[str, int], CompiledSchema]) -> dict[str, CompiledSchema]:
    latest: dict[str, CompiledSchema] = {}
    for (et, ver), c in compiled.items():
        if et not in latest or ver > latest[et].version:
            latest[et] = c
    return latest


__all__ = ["CompiledSchema", "SchemaRecord", "SchemaRegistry", "builtin_schemas", "check_schema"]
