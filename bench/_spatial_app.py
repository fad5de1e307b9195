"""A server with only the spatial router (auth off) for bench/spatial.py's HTTP figures.

    HEXLAKE_DATA_DIR=... python -m uvicorn bench._spatial_app:create --factory
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from hexlake.config import load_settings
from hexlake.errors import HexlakeError
from hexlake.runtime import Runtime
from hexlake.serve.auth import require_read_key, require_write_key
from hexlake.spatial.api import router
from hexlake.spatial.resources import places


def create() -> FastAPI:
    app = FastAPI()
    app.include_router(router)
    app.state.runtime = Runtime(load_settings())
    places(app.state.runtime).index  # noqa: B018  build the nearby index before serving
    app.dependency_overrides[require_read_key] = lambda: None
    app.dependency_overrides[require_write_key] = lambda: None

    @app.exception_handler(HexlakeError)
    async def _err(request: object, exc: HexlakeError) -> JSONResponse:
        return JSONResponse(exc.to_body(), status_code=exc.status)

    return app
