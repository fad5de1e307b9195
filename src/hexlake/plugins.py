"""Where the stages plug into the server and the CLI. One line per built-in part.

* ``ROUTERS``: ``"module:attr"`` of a FastAPI ``APIRouter``, included in the server app.
* ``MIDDLEWARE``: ``"module:attr"`` of an ASGI middleware class, added inside the metrics middleware
  (its requests are counted), in this order (the first is outermost).
* ``CLI_APPS``: ``(command name, "module:attr", help)`` of a typer app, added to ``hexlake``.
* ``SERVICES``: ``"module:attr"`` of a factory ``(runtime) -> BackgroundService | None`` started
  by the server (the raw loader, the scheduler, stream consumers...). Return ``None`` to opt out.
* ``OPERATIONS``: ``"module:attr"`` of a ``dict[name, function(runtime, **kwargs)]``: operations the
  CLI calls through ``cli_common.call`` (run by the server when one owns the data dir, else locally).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from hexlake.services import ServiceStatus

MIDDLEWARE: list[str] = [
    "hexlake.ml.api:RecommendHitMiddleware",  # /v1/recommend cache hits before routing
]
ROUTERS: list[str] = [
    "hexlake.collect.api:router",
    "hexlake.collect.segment:router",
    "hexlake.collect.posthog:router",
    "hexlake.serve.api:router",
    "hexlake.serve.query:router",
    "hexlake.transform.api:router",
    "hexlake.spatial.api:router",
    "hexlake.stream.api:router",
    "hexlake.importers.api:router",
    "hexlake.privacy.api:router",
    "hexlake.quality.api:router",
    "hexlake.console.api:router",
    "hexlake.ml.api:router",
    "hexlake.pipeline.api:router",
]

CLI_APPS: list[tuple[str, str, str]] = [
    ("transform", "hexlake.transform.cli:app", "SQLMesh models: run, plan, status and run history."),
    ("places", "hexlake.spatial.cli:app", "The places registry: add, load, update, delete, list."),
    ("geofences", "hexlake.stream.cli:geofences_app", "Geofences: create, list, delete."),
    ("import", "hexlake.importers.cli:app", "Import personal data archives (Google Takeout)."),
    ("extract", "hexlake.extract.cli:app", "Extract tables from PostgreSQL/MySQL into raw_<source>_<table>."),
    ("pipeline", "hexlake.pipeline.cli:app", "Scheduled pipelines: extract, transform, audits, sync; run history."),
    ("sync", "hexlake.sync.cli:app", "Export events and marts to PostgreSQL or Parquet in tracked batches."),
    ("tiers", "hexlake.lake.cli:app", "Hot and cold tiers: move old events to the Iceberg lake."),
    ("worker", "hexlake.worker:app", "Run the raw loader and stream consumers against a shared log."),
    ("privacy", "hexlake.privacy.cli:app", "Erase or export one person's data; enforce retention."),
    ("audit", "hexlake.ops.audit_cli:app", "The query audit log: list, purge."),
    ("ml", "hexlake.ml.cli:app", "Recommendations: training sets, models, the model registry."),
    ("backup", "hexlake.backup.cli:app", "Backups of the data dir: create, list, verify, restore."),
]

OPERATIONS: list[str] = [
    "hexlake.transform.operations:OPERATIONS",
    "hexlake.spatial.operations:OPERATIONS",
    "hexlake.sync.operations:OPERATIONS",
    "hexlake.lake.operations:OPERATIONS",
    "hexlake.extract.operations:OPERATIONS",
    "hexlake.pipeline.operations:OPERATIONS",
    "hexlake.serve.query:OPERATIONS",
    "hexlake.privacy.operations:OPERATIONS",
    "hexlake.ml.operations:OPERATIONS",
    "hexlake.backup.operations:OPERATIONS",
]

SERVICES: list[str] = [
    "hexlake.warehouse.service:create",
    "hexlake.transform.service:create",
    "hexlake.pipeline.service:create",
    "hexlake.stream.service:create",
    "hexlake.spatial.service:create",
    "hexlake.quality.service:create",
    "hexlake.privacy.service:create",
    "hexlake.ml.service:create",
    "hexlake.backup.service:create",
    "hexlake.gcpolicy:create",
]


class BackgroundService(Protocol):
    """A long-running job inside the server (its own thread). Built-in services subclass
    ``hexlake.services.BackgroundService``, which gives backoff, health and metrics."""

    name: str

    def start(self) -> None:
        """Start working in the background; return at once."""
        ...

    def stop(self, timeout_s: float | None = None) -> bool:
        """Stop, waiting at most ``timeout_s`` for the current unit of work; True if it ended."""
        ...

    def statuses(self) -> list[ServiceStatus]:
        """Health of this service (and of the services it runs), for ``/readyz``."""
        ...


def load(ref: str) -> Any:
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


__all__ = ["CLI_APPS", "MIDDLEWARE", "OPERATIONS", "ROUTERS", "SERVICES", "BackgroundService", "load"]
