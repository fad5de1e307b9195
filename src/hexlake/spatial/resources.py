"""The spatial stage's resources on the process ``Runtime`` (one places service per process)."""

from __future__ import annotations

from pathlib import Path

from hexlake.runtime import Runtime
from hexlake.spatial.places import PlacesService
from hexlake.spatial.store import SqlitePlaceStore


def places_path(runtime: Runtime) -> Path:
    return runtime.paths.places_db


def places(runtime: Runtime) -> PlacesService:
    """The places registry of this process, opened on first use."""

    def make(rt: Runtime) -> PlacesService:
        cfg = rt.settings.spatial
        return PlacesService(SqlitePlaceStore(places_path(rt)), max_radius_m=cfg.max_radius_m,
                             max_limit=cfg.max_limit)

    return runtime.resource("spatial.places", make)


__all__ = ["places", "places_path"]
