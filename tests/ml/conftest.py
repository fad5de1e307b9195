"""ML fixtures: a small demo world (with its taste structure) as frames, and an API app on a temp data dir."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import polars as pl
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from hexlake.config import Settings
from hexlake.demo.generate import DemoWorld
from hexlake.runtime import Runtime
from tests.helpers import act_as

NOW = datetime(2026, 1, 22)


@pytest.fixture(scope="session")
def world() -> DemoWorld:
    return DemoWorld(users=120, days=21, seed=5, now=NOW, cities=2)


@pytest.fixture(scope="session")
def frames(world: DemoWorld) -> tuple[pl.DataFrame, pl.DataFrame]:
    from hexlake.ml.demo import world_frames

    return world_frames(world)


@pytest.fixture
def runtime(tmp_path: Any) -> Iterator[Runtime]:
    from hexlake.setup import initialise

    settings = Settings(data_dir=tmp_path / "data", spatial={"cluster_interval_s": 0})
    initialise(settings)
    rt = Runtime(settings)
    yield rt
    rt.close()


def make_app(rt: Runtime, principal: Any = None) -> FastAPI:
    from hexlake.ml.api import router
    from hexlake.serve.errors import install_error_handlers

    app = FastAPI()
    install_error_handlers(app)
    app.include_router(router)
    app.state.runtime = rt
    act_as(app, principal)
    return app


@pytest.fixture
def client(runtime: Runtime) -> TestClient:
    return TestClient(make_app(runtime))


def load_places(rt: Runtime, places: pl.DataFrame) -> None:
    from hexlake.spatial.resources import places as registry

    service = registry(rt)
    for row in places.iter_rows(named=True):
        service.create({"id": row["place_id"], "name": row["name"], "category": row["category"],
                        "lat": row["lat"], "lng": row["lng"]})
