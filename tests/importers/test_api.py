"""Upload API: chunked, checksummed, resumable; completing it imports through the gate."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from hexlake.config import Settings
from hexlake.errors import HexlakeError
from hexlake.gate.envelope import SourceInfo
from hexlake.importers.api import router
from hexlake.runtime import Runtime
from hexlake.serve.auth import require_write_key
from hexlake.serve.principal import Principal
from tests.helpers import act_as
from tests.importers import fixtures as fx
from tests.importers.conftest import log_events

CHUNK = 1024


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Chunks of 1 KiB keep these tests small: lower the 1 MiB chunk floor for them."""
    return Settings(data_dir=tmp_path / "data", importers={"upload_chunk_min_bytes": CHUNK})


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    from fastapi.responses import JSONResponse

    app = FastAPI()
    app.state.runtime = runtime
    app.include_router(router)
    app.dependency_overrides[require_write_key] = lambda: SourceInfo(name="default")
    act_as(app, Principal(key_id="k_test", kind="write", name="default", source="default"))

    @app.exception_handler(HexlakeError)
    def _handle(request: object, exc: HexlakeError) -> JSONResponse:
        return JSONResponse(exc.to_body(), status_code=exc.status)

    with TestClient(app) as c:
        yield c


def _chunks(data: bytes) -> list[bytes]:
    return [data[i : i + CHUNK] for i in range(0, len(data), CHUNK)]


def _put(client: TestClient, upload_id: str, n: int, chunk: bytes, sha: str | None = None) -> Any:
    return client.put(
        f"/v1/uploads/{upload_id}/chunks/{n}",
        content=chunk,
        headers={"X-Chunk-SHA256": sha or hashlib.sha256(chunk).hexdigest()},
    )


def _wait_done(client: TestClient, import_id: str) -> dict:
    for _ in range(300):
        row = client.get(f"/v1/imports/{import_id}").json()
        if row["status"] not in ("pending", "running"):
            return row
        time.sleep(0.05)
    raise AssertionError("import did not finish")


def test_interrupted_upload_continues_and_completes_into_an_import(
    client: TestClient, runtime: Runtime, tmp_path: Path
) -> None:
    data = fx.write_zip(tmp_path / "t.zip", fx.takeout_files(records=50)).read_bytes()
    created = client.post(
        "/v1/uploads",
        json={
            "filename": "takeout.zip",
            "size": len(data),
            "chunk_size": CHUNK,
            "sha256": hashlib.sha256(data).hexdigest(),
        },
    )
    assert created.status_code == 201, created.text
    up = created.json()
    chunks = _chunks(data)
    assert up["chunks_total"] == len(chunks) and up["missing"] == [[0, len(chunks) - 1]]
    # the client sends the odd chunks, then "crashes"
    for n in range(1, len(chunks), 2):
        assert _put(client, up["id"], n, chunks[n]).status_code == 200
    state = client.get(f"/v1/uploads/{up['id']}").json()
    assert state["missing"] == [[n, n] for n in range(0, len(chunks), 2)]
    early = client.post(f"/v1/uploads/{up['id']}/complete", json={"user_id": "alice"})
    assert early.status_code == 409 and early.json()["error"]["field"] == "chunks"
    for n, _ in state["missing"]:  # it resumes with only the missing ones
        assert _put(client, up["id"], n, chunks[n]).status_code == 200
    done = client.post(f"/v1/uploads/{up['id']}/complete", json={"user_id": "alice"})
    assert done.status_code == 202, done.text
    row = _wait_done(client, done.json()["import"]["id"])
    assert row["status"] == "done" and row["accepted"] == 68
    assert row["archive_sha256"] == hashlib.sha256(data).hexdigest()
    assert len(log_events(runtime)) == 68
    listed = client.get("/v1/imports").json()["imports"]
    assert [r["id"] for r in listed] == [row["id"]]
    assert client.get(f"/v1/uploads/{up['id']}").json()["status"] == "imported"


def test_chunk_with_wrong_checksum_is_refused_and_not_recorded(client: TestClient) -> None:
    up = client.post("/v1/uploads", json={"filename": "t.zip", "size": 10, "chunk_size": 10}).json()
    bad = _put(client, up["id"], 0, b"0123456789", sha="0" * 64)
    assert bad.status_code == 400
    assert "checksum mismatch" in bad.json()["error"]["message"]
    assert client.get(f"/v1/uploads/{up['id']}").json()["received"] == []


def test_chunk_without_checksum_header_or_wrong_length_is_refused(client: TestClient) -> None:
    up = client.post("/v1/uploads", json={"filename": "t.zip", "size": 10, "chunk_size": 10}).json()
    r = client.put(f"/v1/uploads/{up['id']}/chunks/0", content=b"0123456789")
    assert r.status_code == 400 and r.json()["error"]["field"] == "X-Chunk-SHA256"
    short = _put(client, up["id"], 0, b"01234")
    assert short.status_code == 400 and "must be 10 bytes" in short.json()["error"]["message"]
    assert _put(client, up["id"], 1, b"x").status_code == 404


def test_upload_of_wrong_type_is_refused_before_anything_is_imported(client: TestClient, runtime: Runtime) -> None:
    data = b"\x89PNG\r\n\x1a\n" + b"\0" * 100
    up = client.post("/v1/uploads", json={"filename": "t.zip", "size": len(data)}).json()
    assert _put(client, up["id"], 0, data).status_code == 200
    done = client.post(f"/v1/uploads/{up['id']}/complete", json={"user_id": "alice"})
    row = _wait_done(client, done.json()["import"]["id"])
    assert row["status"] == "refused" and "not a zip" in row["message"]
    assert log_events(runtime) == []


@pytest.mark.parametrize(
    "body, field",
    [
        ({"filename": "t.exe", "size": 10}, "filename"),
        ({"filename": "t.zip", "size": 0}, "size"),
        ({"filename": "t.zip"}, None),
    ],
)
def test_bad_upload_requests_get_400_with_the_field(client: TestClient, body: dict, field: str | None) -> None:
    r = client.post("/v1/uploads", json=body)
    assert r.status_code == 400
    if field:
        assert r.json()["error"]["field"] == field


def test_unknown_import_is_404(client: TestClient) -> None:
    r = client.get("/v1/imports/imp_nope")
    assert r.status_code == 404 and r.json()["error"]["type"] == "NotFound"
