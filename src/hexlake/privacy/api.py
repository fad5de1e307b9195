"""HTTP routes of a person's data: ``DELETE /v1/subjects/{user_id}`` (admin) erases them everywhere
and answers with the proof report; ``GET /v1/subjects/{user_id}/export`` (admin, or the person's own
subject token) streams the zip of everything held about them."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from hexlake.privacy.operations import check_user_id, privacy_erase
from hexlake.serve.auth import require_admin, require_subject_or_admin
from hexlake.serve.deps import runtime_of

router = APIRouter(tags=["privacy"])


@router.delete("/v1/subjects/{user_id}", dependencies=[Depends(require_admin)])
def erase_subject(user_id: str, request: Request, wait: bool = False) -> dict[str, Any]:
    """Erase the person and return the proof report (per layer before/after, proof scan, seconds).
    The aggregate marts' recomputation of their days is queued for the next transform run
    (``restated.status`` = ``queued``); ``?wait=true`` runs it before answering."""
    return privacy_erase(runtime_of(request), user_id, wait=wait)


@router.get("/v1/subjects/{user_id}/export", dependencies=[Depends(require_subject_or_admin)],
            response_class=FileResponse)
def export_subject(user_id: str, request: Request) -> FileResponse:
    """A zip of everything held about the person (per layer, CSV/JSON, README), streamed from a
    temporary file that is removed once sent."""
    from hexlake.privacy.export import export_zip

    fd, name = tempfile.mkstemp(prefix="hexlake-export-", suffix=".zip")
    os.close(fd)
    try:
        export_zip(runtime_of(request), check_user_id(user_id), Path(name))
    except BaseException:
        os.unlink(name)
        raise
    return FileResponse(name, media_type="application/zip", filename="hexlake-export.zip",
                        background=BackgroundTask(os.unlink, name))
