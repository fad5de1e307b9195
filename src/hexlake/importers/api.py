"""HTTP API of the importer: resumable chunked uploads of Takeout archives, and import status.

* ``POST /v1/uploads`` ``{filename, size, chunk_size?, sha256?}`` → 201 upload (``id``, ``chunk_size``)
* ``PUT /v1/uploads/{id}/chunks/{n}`` raw bytes + ``X-Chunk-SHA256`` → the upload (received/missing)
* ``GET /v1/uploads/{id}`` → which chunks arrived, so an interrupted client continues
* ``POST /v1/uploads/{id}/complete`` ``{user_id, include_bodies?, precise_location?}`` → 202 import
* ``GET /v1/imports`` and ``GET /v1/imports/{id}`` → status, progress and per-file checkpoints

All routes need the source's write key (``Authorization: Bearer hxw_…``) or an admin key. An upload and
its import are visible only to keys of the source that started it and to admins (another source's key
gets 404, as if it did not exist); a person's subject token sees that person's imports only.
"""

from __future__ import annotations

from typing import Any

import msgspec
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from hexlake.errors import BadRequest, Forbidden, NotFound
from hexlake.gate.envelope import SourceInfo
from hexlake.importers.runner import ImportOptions
from hexlake.importers.service import get_importer, get_store, get_uploads, get_worker
from hexlake.importers.store import ImportRow
from hexlake.importers.uploads import upload_json
from hexlake.runtime import Runtime
from hexlake.serve.auth import authenticate, require_source_or_admin, require_write_key
from hexlake.serve.deps import runtime_of
from hexlake.serve.principal import Principal
from hexlake.serve.ratelimit import get_limiter

router = APIRouter(tags=["imports"])


class UploadRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    filename: str
    size: int
    chunk_size: int | None = None
    sha256: str | None = None


class CompleteRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    user_id: str | int
    include_bodies: bool = False
    precise_location: bool = False
    force: bool = False


async def _body(request: Request, cls: type[Any]) -> Any:
    raw = await request.body()
    try:
        return msgspec.json.decode(raw or b"{}", type=cls)
    except msgspec.ValidationError as exc:
        path = str(exc).rsplit("at `$.", 1)[-1].rstrip("`") if "at `$." in str(exc) else None
        raise BadRequest(f"invalid request body: {exc}", field=path) from exc
    except msgspec.DecodeError as exc:
        raise BadRequest(f"the body is not valid JSON: {exc}", field="body") from exc


def _own_upload(runtime: Runtime, principal: Principal, upload_id: str) -> None:
    """404 unless the upload exists and belongs to the caller's source (admins see all)."""
    if not principal.owns_source(get_uploads(runtime).source_of(upload_id)):
        raise NotFound(f"no upload {upload_id!r}; start one with POST /v1/uploads", field="id")


async def require_import_reader(request: Request) -> Principal:
    """Write keys (their source's imports), admins (all) and subject tokens (their person's)."""
    principal = authenticate(request, what="write key")
    if principal.kind not in ("write", "admin", "subject"):
        raise Forbidden(f"a {principal.kind} key cannot read imports; use the source's write key")
    get_limiter(runtime_of(request)).take(principal, "read" if principal.kind == "subject" else "ingest")
    return principal


def _visible(runtime: Runtime, principal: Principal, rows: list[ImportRow]) -> list[ImportRow]:
    if principal.is_admin:
        return rows
    if principal.kind == "subject":
        return [r for r in rows if r.user_key == principal.subject]
    mine = get_uploads(runtime).ids_of_source(principal.source) if principal.source else set()
    return [r for r in rows if r.upload_id in mine]


@router.post("/v1/uploads", status_code=201)
async def create_upload(request: Request, source: SourceInfo = Depends(require_write_key)) -> JSONResponse:
    """Start a resumable upload; answer its id and the chunk size to use."""
    body: UploadRequest = await _body(request, UploadRequest)
    upload = get_uploads(runtime_of(request)).create(
        body.filename, body.size, body.chunk_size, body.sha256, source.name)
    return JSONResponse(upload_json(upload), status_code=201)


@router.put("/v1/uploads/{upload_id}/chunks/{n}")
async def put_chunk(
    upload_id: str, n: int, request: Request, principal: Principal = Depends(require_source_or_admin)
) -> dict[str, Any]:
    """Store chunk ``n`` (streamed to disk); rejected unless ``X-Chunk-SHA256`` matches its bytes."""
    _own_upload(runtime_of(request), principal, upload_id)
    uploads = get_uploads(runtime_of(request))
    limit = uploads.config.upload_chunk_max_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        from hexlake.errors import PayloadTooLarge

        raise PayloadTooLarge(f"chunk is {declared} bytes; importers.upload_chunk_max_bytes is {limit}", field="body")
    upload = await uploads.write_chunk(upload_id, n, request.headers.get("x-chunk-sha256"), request.stream())
    return upload_json(upload)


@router.get("/v1/uploads/{upload_id}")
def get_upload(
    upload_id: str, request: Request, principal: Principal = Depends(require_source_or_admin)
) -> dict[str, Any]:
    """The upload with its received and missing chunk numbers."""
    _own_upload(runtime_of(request), principal, upload_id)
    return upload_json(get_uploads(runtime_of(request)).get(upload_id))


@router.post("/v1/uploads/{upload_id}/complete", status_code=202)
async def complete_upload(
    upload_id: str, request: Request, principal: Principal = Depends(require_source_or_admin)
) -> JSONResponse:
    """Check every chunk arrived, then start importing the archive in the background for ``user_id``."""
    _own_upload(runtime_of(request), principal, upload_id)
    body: CompleteRequest = await _body(request, CompleteRequest)
    if body.user_id == "" or isinstance(body.user_id, bool):
        raise BadRequest("user_id is required: the user who owns this export", field="user_id")
    runtime = runtime_of(request)
    uploads = get_uploads(runtime)
    upload = uploads.complete(upload_id)
    options = ImportOptions(include_bodies=body.include_bodies, precise_location=body.precise_location)
    importer = get_importer(runtime)
    path = uploads.file_of(upload)
    import_id = get_store(runtime).create(
        user_key=importer.user_key(str(body.user_id)),
        source_path=str(path),
        options={"include_bodies": options.include_bodies, "precise_location": options.precise_location},
        upload_id=upload_id,
    )
    uploads.set_status(upload_id, "importing", import_id)
    get_worker(runtime).submit(import_id, path, str(body.user_id), options, upload_id)
    row = get_store(runtime).get(import_id)
    return JSONResponse({"upload": upload_json(uploads.get(upload_id)), "import": row.to_json()}, status_code=202)


@router.get("/v1/imports")
def list_imports(
    request: Request, limit: int = 100, principal: Principal = Depends(require_import_reader)
) -> dict[str, Any]:
    """Recent imports the caller may see, newest first, with status and progress."""
    runtime = runtime_of(request)
    rows = _visible(runtime, principal, get_store(runtime).list_imports(limit=1000))
    return {"imports": [r.to_json() for r in rows[: max(1, min(limit, 1000))]]}


@router.get("/v1/imports/{import_id}")
def get_import(
    import_id: str, request: Request, principal: Principal = Depends(require_import_reader)
) -> dict[str, Any]:
    """One import with its per-file checkpoints, hashes and counters (404 if the caller may not see it)."""
    runtime = runtime_of(request)
    row = get_store(runtime).get(import_id)
    if not _visible(runtime, principal, [row]):
        raise NotFound(f"no import {import_id!r}", field="id")
    return row.to_json()


__all__ = ["router"]
