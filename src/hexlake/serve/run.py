"""``hexlake serve``: run uvicorn on the app and advertise the server in the data dir."""

from __future__ import annotations

import gc
import logging
import os

import uvicorn

from hexlake.config import Settings
from hexlake.errors import Conflict
from hexlake.serve.app import create_app
from hexlake.serve.client import find_server, remove_server_file, write_server_file
from hexlake.serve.errors import log as serve_log
from hexlake.serve.logs import configure_logging


def run_server(
    settings: Settings, *, host: str | None, port: int | None, background: bool, access_log: bool
) -> None:
    host = host or settings.serve.host
    port = port or settings.serve.port
    running = find_server(settings)
    if running is not None:
        raise Conflict(f"a server already runs on {settings.data_dir} at {running.url} (pid {running.pid})")
    configure_logging()
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
    info = write_server_file(settings.paths.server_file, url)
    try:
        app = create_app(settings, admin_token=info.admin_token, background=background)
        # Start-up objects live forever: keep the cyclic GC from rescanning them on every batch.
        gc.collect()
        gc.freeze()
        serve_log.info("serving", extra={"url": url, "data_dir": str(settings.data_dir), "pid": os.getpid()})
        uvicorn.run(app, host=host, port=port, access_log=access_log, log_config=None,
                    log_level=logging.INFO, timeout_graceful_shutdown=10)
    finally:
        remove_server_file(settings.paths.server_file, info.pid)
