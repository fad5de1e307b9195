"""HTTP routes of a person's data: ``DELETE /v1/subjects/{user_id}`` (admin) erases them everywhere
and answers with the proof report."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from hexlake.privacy.operations import privacy_erase
from hexlake.serve.auth import require_admin
from hexlake.serve.deps import runtime_of

router = APIRouter(tags=["privacy"])


@router.delete("/v1/subjects/{user_id}", dependencies=[Depends(require_admin)])
def erase_subject(user_id: str, request: Request) -> dict[str, Any]:
    """Erase the person and return the proof report (per layer before/after, proof scan, seconds)."""
    return privacy_erase(runtime_of(request), user_id)
