"""``hexlake worker``: the raw loader and stream consumers without an HTTP server.

Run any number of workers (and ``hexlake serve --no-background`` collectors) against one shared
PostgreSQL or Redis log: the consumer groups spread the batches over them, a worker that dies is
replaced by its peers once its leases time out, and the idempotent loader keeps ``raw_events``
exact. Several loaders need a warehouse that takes concurrent writers:
``HEXLAKE_WAREHOUSE_URL=postgresql://…`` (a DuckDB file allows one writing process).

Stream consumers keep their state in the worker's data dir (``stream.sqlite``); run them on workers
that share one data dir, or on one worker (``--only loader`` elsewhere).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Annotated, Any

import typer

from hexlake.runtime import Runtime

log = logging.getLogger("hexlake.worker")
PARTS = ("loader", "counters", "features", "geofences")
app = typer.Typer(help="Run the raw loader and stream consumers against a shared log (no HTTP server).")


def consumer_name() -> str:
    """Unique per process, readable in the log's status: ``<host>-<pid>``."""
    return f"{socket.gethostname()}-{os.getpid()}"


class LoaderLoop:
    """Loads batch after batch; with ``until_idle`` returns once its group has nothing left."""

    def __init__(self, runtime: Runtime, name: str):
        from hexlake.log import get_log
        from hexlake.warehouse import get_warehouse, make_raw_loader

        self.log = get_log(runtime)
        self.loader = make_raw_loader(self.log, get_warehouse(runtime), runtime.settings.warehouse,
                                      consumer=name)
        self.interval_s = runtime.settings.warehouse.loader_interval_s
        self.loaded = 0

    def idle(self) -> bool:
        return all(s.lag == 0 for s in self.log.status() if s.group == self.loader.group)

    def run(self, stop: threading.Event, until_idle: bool = False) -> None:
        while not stop.is_set():
            try:
                messages = self.log.read(self.loader.group, self.loader.consumer, self.loader.config.loader_batch)
                if messages:
                    self.loaded += self.loader.load_batch(messages)[0]
                    continue
                if until_idle and self.idle():
                    return
            except Exception:  # a failed batch is redelivered after its lease; keep going
                log.exception("raw loader batch failed; retrying in %.1fs", self.interval_s)
            stop.wait(self.interval_s)


class Housekeeping:
    """Log retention from a worker: Redis ``trim`` of entries every group finished (keeping the
    newest ``trim_keep`` for the gate's dedupe window), PostgreSQL ``drop_partitions_before`` of
    finished days older than ``retention_days``."""

    def __init__(self, runtime: Runtime, trim_keep: int, retention_days: int | None, every_s: float = 60.0):
        from hexlake.log import get_log

        self.log, self.trim_keep, self.retention_days, self.every_s = (
            get_log(runtime), trim_keep, retention_days, every_s)

    def once(self) -> dict[str, Any]:
        done: dict[str, Any] = {}
        if hasattr(self.log, "trim") and self.trim_keep >= 0:
            done["trimmed"] = self.log.trim(keep=self.trim_keep)
        if hasattr(self.log, "drop_partitions_before") and self.retention_days is not None:
            cutoff = date.today() - timedelta(days=self.retention_days)
            done["dropped_days"] = [d.isoformat() for d in self.log.drop_partitions_before(cutoff)]
        return done

    def run(self, stop: threading.Event) -> None:
        while not stop.wait(self.every_s):
            try:
                log.info("worker housekeeping: %s", self.once())
            except Exception:
                log.exception("worker housekeeping failed; retrying in %.0fs", self.every_s)


def stream_parts(which: Sequence[str]) -> list[str]:
    """The stream consumers to run (every part but the loader)."""
    return [p for p in which if p != "loader"]


def run_worker(runtime: Runtime, which: Sequence[str], stop: threading.Event, *,
               until_idle: bool = False, name: str | None = None,
               housekeeping: Housekeeping | None = None) -> dict[str, Any]:
    """Run the chosen parts until ``stop`` is set (or, with ``until_idle``, the log is drained)."""
    from hexlake.stream.runner import build_consumers

    name = name or consumer_name()
    threads: list[threading.Thread] = []
    if housekeeping is not None:  # daemon: never keeps an idle worker from exiting
        threading.Thread(target=housekeeping.run, args=(stop,), name="worker-housekeeping", daemon=True).start()
    loop = LoaderLoop(runtime, name) if "loader" in which else None
    if loop is not None:
        threads.append(threading.Thread(target=loop.run, args=(stop, until_idle), name="worker-loader"))
    parts = stream_parts(which)
    for consumer in build_consumers(runtime, parts) if parts else []:
        threads.append(threading.Thread(target=consumer.run, args=(stop,), kwargs={"until_idle": until_idle},
                                        name=f"worker-{consumer.group}"))
    for t in threads:
        t.start()
    for t in threads:
        while t.is_alive():
            t.join(0.5)
    return {"consumer": name, "loaded": loop.loaded if loop else 0, "parts": ["loader"] * bool(loop) + parts}


@app.callback(invoke_without_command=True)
def worker(
    only: Annotated[str, typer.Option(
        "--only", help=f"Comma list of parts to run: {', '.join(PARTS)} (default: all).")] = ",".join(PARTS),
    until_idle: Annotated[bool, typer.Option(
        "--until-idle", help="Exit once the log is drained instead of waiting for new events.")] = False,
    name: Annotated[str | None, typer.Option(
        "--name", help="Consumer name in the log's status (default: <host>-<pid>).")] = None,
    trim_keep: Annotated[int, typer.Option(
        "--trim-keep", help="Redis log: every minute trim entries all groups finished, keeping the newest N "
                            "(-1: never trim).")] = 100_000,
    log_retention_days: Annotated[int | None, typer.Option(
        "--log-retention-days", help="PostgreSQL log: every minute drop finished day partitions older "
                                     "than N days (default: keep all).")] = None,
) -> None:
    """Run the raw loader and stream consumers against HEXLAKE_LOG_URL until SIGTERM/SIGINT (graceful:
    the current batch finishes). Start several, on several machines, with a PostgreSQL or Redis log."""
    from hexlake.cli_common import settings
    from hexlake.errors import ConfigError

    which = [p.strip() for p in only.split(",") if p.strip()]
    unknown = sorted(set(which) - set(PARTS))
    if unknown:
        raise ConfigError(f"unknown worker part(s) {', '.join(unknown)}; choose from {', '.join(PARTS)}",
                          field="only")
    runtime = Runtime(settings())
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    started = time.monotonic()
    try:
        result = run_worker(runtime, which, stop, until_idle=until_idle, name=name,
                            housekeeping=Housekeeping(runtime, trim_keep, log_retention_days))
    finally:
        runtime.close()
    log.info("worker %s stopped after %.1fs: %s", result["consumer"], time.monotonic() - started, result)


__all__ = ["PARTS", "Housekeeping", "LoaderLoop", "app", "consumer_name", "run_worker"]
