"""FastAPI helpers every router shares."""

from __future__ import annotations

from fastapi import Request

from hexlake.runtime import Runtime


def runtime_of(request: Request) -> Runtime:
    """The server's one ``Runtime`` (built in ``serve/app.py``), for routers and dependencies."""
    runtime: Runtime = request.app.state.runtime
    return runtime


__all__ = ["runtime_of"]
