"""``hexlake serve``: run uvicorn on the app and advertise the server in the data dir.

Stopping is bounded: SIGTERM/SIGINT gives in-flight requests a quarter of ``serve.shutdown_timeout_s``,
then the services stop; a watchdog ends the process when the whole budget is spent (a transform or
query still running is abandoned — every store it writes is transactional, so it is redone).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable
from types import FrameType

import uvicorn

from hexlake.config import Settings
from hexlake.errors import Conflict
from hexlake.gcpolicy import install as install_gc
from hexlake.gcpolicy import settle
from hexlake.serve.app import create_app
from hexlake.serve.client import find_server, remove_server_file, write_server_file
from hexlake.serve.errors import log as serve_log
from hexlake.serve.logs import configure_logging


def _busy_threads() -> dict[str, str]:
    """Each live thread and the innermost line it runs (what the forced stop abandons)."""
    frames = sys._current_frames()
    out = {}
    for thread in threading.enumerate():
        frame = frames.get(thread.ident or -1)
        if frame is not None and thread is not threading.current_thread():
            last = traceback.extract_stack(frame)[-1]
            out[thread.name] = f"{last.filename}:{last.lineno} in {last.name}"
    return out


def force_exit_after(seconds: float, cleanup: Callable[[], None]) -> threading.Timer:
    """End the process within ``seconds`` unless it ends by itself.

    At 85 % a timer thread logs the busy threads, runs ``cleanup`` and exits with status 1. A thread
    can only run when it gets the GIL, and C code (scikit-learn, a DuckDB call) may hold it for
    seconds; so the kernel also gets an interval timer for ``seconds`` whose SIGALRM, left at its
    default action, ends the process without needing the GIL.
    """
    def expire() -> None:
        serve_log.error("shutdown took longer than %.1fs; exiting now", seconds * 0.85,
                        extra={"threads": _busy_threads()})
        cleanup()
        logging.shutdown()
        os._exit(1)

    signal.signal(signal.SIGALRM, signal.SIG_DFL)  # the caller is the main thread (a signal handler)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    timer = threading.Timer(seconds * 0.85, expire)
    timer.daemon = True
    timer.start()
    return timer


class BoundedServer(uvicorn.Server):
    """uvicorn whose first stop signal also starts the shutdown watchdog."""

    def __init__(self, config: uvicorn.Config, stop_within_s: float, cleanup: Callable[[], None]):
        super().__init__(config)
        self.stop_within_s, self.cleanup = stop_within_s, cleanup
        self.watchdog: threading.Timer | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.watchdog is None:
            serve_log.info("stopping", extra={"signal": sig, "within_s": self.stop_within_s})
            self.watchdog = force_exit_after(self.stop_within_s, self.cleanup)
        super().handle_exit(sig, frame)


def run_server(
    settings: Settings, *, host: str | None, port: int | None, background: bool, access_log: bool
) -> None:
    host = host or settings.serve.host
    port = port or settings.serve.port
    running = find_server(settings)
    if running is not None:
        raise Conflict(f"a server already runs on {settings.data_dir} at {running.url} (pid {running.pid})")
    log_file = configure_logging(settings.logging, settings.data_dir)
    if log_file is not None:
        sys.stderr.write(f"hexlake: logging to {log_file}\n")
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
    info = write_server_file(settings.paths.server_file, url)
    budget = settings.serve.shutdown_timeout_s
    try:
        app = create_app(settings, admin_token=info.admin_token, background=background)
        # Start-up objects live forever: keep the cyclic GC from rescanning them (the ``gc`` service
        # goes on freezing what survives later work: hexlake/gcpolicy.py).
        install_gc()
        settle()
        # Background work (SQLMesh runs, snapshot refreshes) holds the GIL in 5 ms slices by default;
        # a request waiting behind it pays that per hand-over. 1 ms slices cut request tail latency.
        sys.setswitchinterval(0.001)
        serve_log.info("serving", extra={"url": url, "data_dir": str(settings.data_dir), "pid": os.getpid(),
                                         "log_file": str(log_file) if log_file else None})
        config = uvicorn.Config(app, host=host, port=port, access_log=access_log, log_config=None,
                                log_level=logging.INFO, timeout_graceful_shutdown=max(1, int(budget / 4)))
        BoundedServer(config, budget, lambda: remove_server_file(settings.paths.server_file, info.pid)).run()
    finally:
        remove_server_file(settings.paths.server_file, info.pid)
