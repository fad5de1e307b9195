"""Wiring the importer to a ``Runtime``: its store, the gate delivery and the importer schemas.

Records reach hexlake only through ``hexlake.collect.ingest.ingest`` (gate → quarantine → log),
as source ``takeout`` whose unknown event types are quarantined (never silently accepted).
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from importlib import resources
from pathlib import Path
from typing import Any

from hexlake.gate.envelope import SourceInfo
from hexlake.importers.runner import Deliver, ImportOptions, TakeoutImporter
from hexlake.importers.store import Counts, ImportStore
from hexlake.runtime import Runtime

log = logging.getLogger(__name__)
SOURCE = SourceInfo(name="takeout", unknown_events="quarantine")


def importer_schemas() -> list[dict[str, Any]]:
    """The JSON Schemas of the importer's event types (``importers/schemas/*.json``)."""
    folder = resources.files("hexlake.importers").joinpath("schemas")
    return [
        json.loads(e.read_text(encoding="utf-8"))
        for e in sorted(folder.iterdir(), key=lambda e: e.name)
        if e.name.endswith(".json")
    ]


def register_schemas(registry: Any) -> None:
    """Add the importer's schemas to the gate's registry (same content is a no-op)."""
    for schema in importer_schemas():
        registry.add(schema)


def gate_delivery(runtime: Runtime) -> Deliver:
    """Deliver batches through ``ingest``; registers the importer schemas first."""
    from hexlake.collect.ingest import ingest
    from hexlake.gate.resources import runtime_registry

    register_schemas(runtime_registry(runtime))

    def deliver(items: list[dict[str, Any]]) -> Counts:
        r = ingest(runtime, items, source=SOURCE)
        # ``errors`` lists quarantined items too; count only the refused-and-not-stored ones.
        return Counts(
            accepted=r.accepted,
            duplicates=r.duplicates,
            quarantined=r.quarantined,
            errors=max(len(r.errors) - r.quarantined, 0),
        )

    return deliver


def replay_source(runtime: Runtime) -> SourceInfo:
    """The source quarantined Takeout records are replayed as (``hexlake quarantine replay``)."""
    from hexlake.gate.resources import runtime_registry

    register_schemas(runtime_registry(runtime))
    return SOURCE


def get_store(runtime: Runtime) -> ImportStore:
    return runtime.resource("importers.store", lambda rt: ImportStore(rt.paths.imports_db))


def get_importer(runtime: Runtime) -> TakeoutImporter:
    """The runtime's importer (created once: it loads the secret and registers the schemas)."""
    return runtime.resource("importers.importer", _build)


def _build(runtime: Runtime) -> TakeoutImporter:
    from hexlake.privacy.hashing import Hasher
    from hexlake.privacy.secret import load_secret

    hasher = Hasher(load_secret(runtime.paths.secret))
    return TakeoutImporter(
        get_store(runtime),
        runtime.settings.importers,
        gate_delivery(runtime),
        hasher.user_key,
        coarse_h3_res=runtime.settings.gate.coarse_h3_res,
    )


def get_uploads(runtime: Runtime) -> Any:
    from hexlake.importers.uploads import UploadStore

    return runtime.resource(
        "importers.uploads",
        lambda rt: UploadStore(rt.paths.imports_db, rt.paths.uploads, rt.settings.importers),
    )


class ImportWorker:
    """One background thread in the server running uploaded imports one after another."""

    def __init__(self, runtime: Runtime):
        self._runtime = runtime
        self._jobs: queue.Queue[tuple[Any, ...] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name="hexlake-imports", daemon=True)
        self._thread.start()

    def submit(self, import_id: str, path: Path, user_id: str, options: ImportOptions, upload_id: str) -> None:
        self._jobs.put((import_id, path, user_id, options, upload_id))

    def _loop(self) -> None:
        while (job := self._jobs.get()) is not None:
            import_id, path, user_id, options, upload_id = job
            uploads = get_uploads(self._runtime)
            try:
                get_importer(self._runtime).import_path(
                    path, user_id, options, upload_id=upload_id, import_id=import_id
                )
                uploads.set_status(upload_id, "imported", import_id)
            except Exception as exc:  # recorded on the import row by the runner; keep serving
                log.warning("import %s from upload %s stopped: %s", import_id, upload_id, exc)
                uploads.set_status(upload_id, "failed", import_id)

    def close(self) -> None:
        self._jobs.put(None)
        self._thread.join(timeout=5)


def get_worker(runtime: Runtime) -> ImportWorker:
    return runtime.resource("importers.worker", ImportWorker)


__all__ = [
    "SOURCE",
    "ImportWorker",
    "gate_delivery",
    "get_importer",
    "get_store",
    "get_uploads",
    "get_worker",
    "importer_schemas",
    "register_schemas",
    "replay_source",
]
