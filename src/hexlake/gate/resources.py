"""The gate's own stores in a runtime: its schema registry and its quarantine.

The gate owns them; other stages (collect, importers, serve) ask here instead of building them, so
how they are opened (file, encryption, settings) is decided in one place.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hexlake.runtime import Runtime

if TYPE_CHECKING:  # imported on first use: the CLI starts without jsonschema and friends
    from hexlake.gate.quarantine import QuarantineStore
    from hexlake.gate.registry import SchemaRegistry


def runtime_registry(runtime: Runtime) -> SchemaRegistry:
    """The process's schema registry (in the catalog database)."""
    from hexlake.gate.registry import SchemaRegistry

    return runtime.resource("registry", lambda rt: SchemaRegistry(rt.paths.catalog_db))


def runtime_quarantine(runtime: Runtime) -> QuarantineStore:
    """The process's quarantine store (in the catalog database, payloads sealed with the secret)."""
    from hexlake.gate.quarantine import QuarantineStore
    from hexlake.privacy.secret import load_secret

    return runtime.resource("quarantine", lambda rt: QuarantineStore(
        rt.paths.catalog_db, secret=load_secret(rt.paths.secret) if rt.paths.secret.exists() else None))


__all__ = ["runtime_quarantine", "runtime_registry"]
