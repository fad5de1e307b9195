"""Fixtures of the spatial tests: a runtime on a temp data dir, an API client with auth overridden,
and a helper writing rows into the real DuckDB ``raw_events``."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from hexlake.config import Settings
from hexlake.errors import HexlakeError
from hexlake.runtime import Runtime
from hexlake.serve.auth import require_write_key
from hexlake.spatial import warehouse as wh
from hexlake.spatial.api import router
from hexlake.warehouse.schema import RAW_EVENTS_COLUMNS, RAW_EVENTS_DDL
from tests.helpers import act_as

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def runtime(tmp_path: Any) -> Iterator[Runtime]:
    settings = Settings(data_dir=tmp_path / "data", spatial={"cluster_interval_s": 0})
    rt = Runtime(settings)
    yield rt
    rt.close()


def make_app(rt: Runtime) -> FastAPI:
    app = FastAPI()
    try:
        from hexlake.serve.errors import install_error_handlers

        install_error_handlers(app)
    except ImportError:  # the server's handler is not there yet: render the same shape
        from fastapi.responses import JSONResponse

        @app.exception_handler(HexlakeError)
        async def _err(request: Any, exc: HexlakeError) -> JSONResponse:
            return JSONResponse(exc.to_body(), status_code=exc.status)

    app.include_router(router)
    app.state.runtime = rt
    act_as(app)  # reads are scoped per API now: authenticate every request as an admin
    app.dependency_overrides[require_write_key] = lambda: None
    return app


@pytest.fixture
def client(runtime: Runtime) -> TestClient:
    return TestClient(make_app(runtime))


def insert_events(rt: Runtime, events: list[dict[str, Any]]) -> None:
    """Write events (envelope fields; ``ts`` datetime) into raw_events as the raw loader would."""
    import orjson

    from hexlake.spatial.geo import place_cells

    rows = []
    for e in events:
        ts = e["ts"].astimezone(UTC).replace(tzinfo=None)
        received = e.get("received_at", e["ts"]).astimezone(UTC).replace(tzinfo=None)
        row: dict[str, Any] = {
            "event_id": e.get("event_id") or str(uuid.uuid4()), "event_type": e.get("event_type", "location_ping"),
            "schema_version": 1, "source": "test", "user_key": e.get("user_key"),
            "anonymous_key": e.get("anonymous_key"), "session_id": None, "ts": ts, "received_at": received,
            "properties": orjson.dumps(e.get("properties", {})).decode(), "context": "{}",
            "lat": e.get("lat"), "lng": e.get("lng"), "accuracy_m": None, "consent": "{}", "retention": None,
            "log_offset": 0, "load_date": ts.date(), "loaded_at": ts,
        }
        cells = place_cells(e["lat"], e["lng"]) if e.get("lat") is not None else {}
        row.update({f"h3_r{r}": cells.get(f"h3_r{r}") for r in (6, 9, 12)})
        rows.append(row)
    names = [n for n, _ in RAW_EVENTS_COLUMNS]
    table = pa.Table.from_pylist([{n: r[n] for n in names} for r in rows])
    reader = wh.reader(rt)
    cur = reader.cursor() if hasattr(reader, "cursor") else reader._conn  # type: ignore[attr-defined]
    cur.execute(RAW_EVENTS_DDL)
    cur.register("incoming", table)
    casts = ", ".join(f"CAST({n} AS {t.split(' NOT NULL')[0]})" for n, t in RAW_EVENTS_COLUMNS)
    cur.execute(f"INSERT INTO raw_events ({', '.join(names)}) SELECT {casts} FROM incoming")
    cur.unregister("incoming")
