"""Wiring the importer to a ``Runtime``: its store, the gate delivery and the importer schemas.

Records reach hexlake only through ``hexlake.collect.ingest.ingest`` (gate → quarantine → log),
as source ``takeout`` whose unknown event types are quarantined (never silently accepted).
"""

from __future__ import annotations

import json
import logging
import queue
from importlib import resources
from pathlib import Path
from typing import Any, NamedTuple

from hexlake.errors import is_transient
from hexlake.gate.envelope import SourceInfo
from hexlake.importers.runner import Deliver, ImportOptions, TakeoutImporter
from hexlake.importers.store import Counts, ImportStore
from hexlake.runtime import Runtime
from hexlake.services import BackgroundService

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


class ImportWorker(BackgroundService):
    """Runs uploaded imports one after another in the server (a ``BackgroundService``).

    A transient failure (the log busy, the server restarting) puts the import back for another
    try after the service's backoff, up to ``max_tries``: imports resume from their checkpoints,
    so nothing is delivered twice. A terminal one marks the upload failed at once.
    """

    name = "imports"

    def __init__(self, runtime: Runtime, *, max_tries: int = 3, interval_s: float = 0.2):
        super().__init__(interval_s=interval_s, backoff_base_s=1.0, backoff_max_s=30.0)
        self._runtime = runtime
        self.max_tries = max_tries
        self._jobs: queue.Queue[_Job] = queue.Queue()
        self.start()

    def submit(self, import_id: str, path: Path, user_id: str, options: ImportOptions, upload_id: str) -> None:
        self._jobs.put(_Job(import_id, path, user_id, options, upload_id))

    def step(self) -> bool:
        try:
            job = self._jobs.get_nowait()
        except queue.Empty:
            return False
        uploads = get_uploads(self._runtime)
        try:
            get_importer(self._runtime).import_path(
                job.path, job.user_id, job.options, upload_id=job.upload_id, import_id=job.import_id)
        except Exception as exc:  # recorded on the import row by the runner
            if is_transient(exc) and job.tries < self.max_tries:
                log.warning("import %s stopped (try %d/%d), retrying: %s", job.import_id, job.tries,
                            self.max_tries, exc)
                self._jobs.put(job._replace(tries=job.tries + 1))
                raise  # the service backs off before the next try
            log.warning("import %s from upload %s failed: %s", job.import_id, job.upload_id, exc)
            uploads.set_status(job.upload_id, "failed", job.import_id)
            return True
        uploads.set_status(job.upload_id, "imported", job.import_id)
        return True

    def close(self) -> None:
        """Stop within 2 s (runs inside the server's shutdown); an import cut short keeps its
        checkpoints (``hexlake import resume``)."""
        self.stop(2.0)


class _Job(NamedTuple):
    import_id: str
    path: Path
    user_id: str
    options: ImportOptions
    upload_id: str
    tries: int = 1


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
