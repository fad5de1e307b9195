"""A server with only the spatial router (every request an admin, no key) for bench/spatial.py's HTTP
figures.

    HEXLAKE_DATA_DIR=... python -m uvicorn bench._spatial_app:create --factory
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from hexlake.config import load_settings
from hexlake.errors import HexlakeError
from hexlake.runtime import Runtime
from hexlake.serve.principal import ADMIN_TOKEN_PRINCIPAL
from hexlake.spatial.api import router
from hexlake.spatial.resources import places


def create() -> FastAPI:
    app = FastAPI()
    app.include_router(router)
    app.state.runtime = Runtime(load_settings())
    places(app.state.runtime).index  # noqa: B018  build the nearby index before serving

    @app.middleware("http")
    async def _as_admin(request: Request, call_next: Any) -> Any:  # the scope check stays on the path
        request.state.principal = ADMIN_TOKEN_PRINCIPAL
        return await call_next(request)

    @app.exception_handler(HexlakeError)
    async def _err(request: object, exc: HexlakeError) -> JSONResponse:
        return JSONResponse(exc.to_body(), status_code=exc.status)

    return app
