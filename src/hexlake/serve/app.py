"""The FastAPI application: every stage's router, one error shape, metrics, background services."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from hexlake import __version__, plugins
from hexlake.config import Settings
from hexlake.console.docs import install_openapi
from hexlake.errors import NotInitialised
from hexlake.plugins import BackgroundService
from hexlake.runtime import Runtime
from hexlake.serve.errors import FastJSONResponse, install_error_handlers
from hexlake.serve.limits import install_body_limit
from hexlake.serve.metrics import install_metrics
from hexlake.services import stop_all

log = logging.getLogger("hexlake.serve")
SERVICES_STOP_TIMEOUT_S = 6.0  # background services' share of a 10 s SIGTERM grace period


def start_services(runtime: Runtime) -> list[BackgroundService]:
    started: list[BackgroundService] = []
    for ref in plugins.SERVICES:
        service = plugins.load(ref)(runtime)
        if service is not None:
            service.start()
            started.append(service)
            log.info("service started", extra={"service": service.name})
    return started


def create_app(settings: Settings, *, admin_token: str | None = None, background: bool | None = None) -> FastAPI:
    """Build the server app for an initialised data dir.

    ``background`` (default ``settings.serve.background``) starts the raw loader, scheduler and
    stream consumers inside the server process.
    """
    if not settings.paths.secret.exists():
        raise NotInitialised(f"{settings.data_dir} is not initialised; run `hexlake init` first")
    _secure_data_dir(settings)
    run_background = settings.serve.background if background is None else background

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = start_services(app.state.runtime) if run_background else []
        app.state.services = services
        app.state.ready = True
        try:
            yield
        finally:
            app.state.ready = False
            stop_all(services, SERVICES_STOP_TIMEOUT_S)  # one shared, bounded deadline
            app.state.runtime.close()

    app = FastAPI(
        title="hexlake",
        version=__version__,
        default_response_class=FastJSONResponse,
        lifespan=lifespan,
        description="Collect, protect, process and serve product and location events.",
        docs_url=None, redoc_url=None,  # served offline by hexlake.console (packaged Swagger UI / ReDoc)
    )
    app.state.runtime = Runtime(settings)
    app.state.admin_token = admin_token
    app.state.ready = False
    app.state.services = []
    install_error_handlers(app)
    # added before the metrics middleware, so they run inside it (their requests are counted)
    for ref in reversed(plugins.MIDDLEWARE):
        app.add_middleware(plugins.load(ref))
    install_metrics(app)
    install_openapi(app)
    for ref in plugins.ROUTERS:
        app.include_router(plugins.load(ref))
    install_body_limit(app, settings)
    return app


def _secure_data_dir(settings: Settings) -> None:
    """Refuse a secret others can read (ConfigError), then make the rest of the data dir private."""
    from hexlake.ops.modes import secure_umask, tighten_except_secret
    from hexlake.privacy.secret import load_secret

    secure_umask()
    load_secret(settings.paths.secret)
    tighten_except_secret(settings.paths.root, settings.paths.secret)


__all__ = ["create_app", "start_services"]
