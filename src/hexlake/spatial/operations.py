"""Places operations the CLI calls through ``cli_common.call`` (in the server when one runs)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hexlake.runtime import Runtime


def _places(runtime: Runtime) -> Any:
    from hexlake.spatial.resources import places  # numpy/polars/h3: only when an operation runs

    return places(runtime)


def places_add(runtime: Runtime, place: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = _places(runtime).create(place).to_json()
    return result


def places_get(runtime: Runtime, place_id: str) -> dict[str, Any]:
    result: dict[str, Any] = _places(runtime).get(place_id).to_json()
    return result


def places_update(runtime: Runtime, place_id: str, changes: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = _places(runtime).update(place_id, changes).to_json()
    return result


def places_delete(runtime: Runtime, place_id: str) -> dict[str, Any]:
    _places(runtime).delete(place_id)
    return {"id": place_id, "deleted": True}


def places_list(runtime: Runtime, category: str | None = None, after: str | None = None,
                limit: int = 100) -> list[dict[str, Any]]:
    return [p.to_json() for p in _places(runtime).page(category=category, after=after, limit=limit)]


def places_nearby(runtime: Runtime, lat: float, lng: float, radius_m: float = 500.0, limit: int = 20,
                  category: str | None = None) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = _places(runtime).nearby(lat, lng, radius_m, limit, category)
    return rows


def places_cluster(runtime: Runtime) -> dict[str, int]:
    """Recompute hotspots and regions now (reads location pings from the warehouse)."""
    from hexlake.spatial.clustering import run_clustering

    return run_clustering(runtime)


OPERATIONS: dict[str, Callable[..., Any]] = {
    "places_add": places_add,
    "places_get": places_get,
    "places_update": places_update,
    "places_delete": places_delete,
    "places_list": places_list,
    "places_nearby": places_nearby,
    "places_cluster": places_cluster,
}

__all__ = ["OPERATIONS"]
