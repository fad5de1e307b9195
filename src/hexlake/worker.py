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

from hexlake.config import Settings
from hexlake.log.protocol import as_partition_dropper, as_trimmable
from hexlake.runtime import Runtime
from hexlake.services import BackgroundService, stop_all

log = logging.getLogger("hexlake.worker")
PARTS = ("loader", "counters", "features", "geofences")
#: Parts a worker runs only when named in --only (the server runs them too: never both by default).
OPT_IN_PARTS = ("pipelines", "transform")
app = typer.Typer(help="Run the raw loader and stream consumers against a shared log (no HTTP server).")


def consumer_name() -> str:
    """Unique per process, readable in the log's status: ``<host>-<pid>``."""
    return f"{socket.gethostname()}-{os.getpid()}"


class Housekeeping(BackgroundService):
    """Log retention from a worker, every ``every_s``: Redis ``trim`` of entries every group finished
    (keeping the newest ``trim_keep`` for the gate's dedupe window), PostgreSQL
    ``drop_partitions_before`` of finished days older than ``retention_days``. Each ability is
    used only where the backend declares it (``SUPPORTS_TRIM``, ``SUPPORTS_DROP_PARTITIONS``)."""

    name = "worker-housekeeping"

    def __init__(self, runtime: Runtime, trim_keep: int, retention_days: int | None, every_s: float = 60.0):
        from hexlake.log import get_log

        super().__init__(interval_s=every_s, backoff_base_s=min(every_s, 5.0), backoff_max_s=every_s)
        self.log, self.trim_keep, self.retention_days = get_log(runtime), trim_keep, retention_days

    def once(self) -> dict[str, Any]:
        done: dict[str, Any] = {}
        trimmable, dropper = as_trimmable(self.log), as_partition_dropper(self.log)
        if trimmable is not None and self.trim_keep >= 0:
            done["trimmed"] = trimmable.trim(keep=self.trim_keep)
        if dropper is not None and self.retention_days is not None:
            cutoff = date.today() - timedelta(days=self.retention_days)
            done["dropped_days"] = [d.isoformat() for d in dropper.drop_partitions_before(cutoff)]
        return done

    def setup(self) -> None:
        self.stopping.wait(self.interval_s)  # the first pass one interval after start, as before

    def step(self) -> bool:
        if not self.stopping.is_set():
            log.info("worker housekeeping: %s", self.once())
        return False


def stream_parts(which: Sequence[str]) -> list[str]:
    """The stream consumers to run (every part but the loader)."""
    return [p for p in which if p != "loader" and p not in OPT_IN_PARTS]


def run_worker(
    runtime: Runtime,
    which: Sequence[str],
    stop: threading.Event,
    *,
    until_idle: bool = False,
    name: str | None = None,
    beside: Sequence[BackgroundService] = (),
    stop_timeout_s: float = 8.0,
) -> dict[str, Any]:
    """Run the chosen parts as background services until ``stop`` is set (or, with ``until_idle``,
    every part has drained the log); then stop them all within ``stop_timeout_s``. ``beside`` runs
    alongside and never keeps the worker alive (the CLI's housekeeping and collector service)."""
    from hexlake.log import get_log
    from hexlake.stream.consumer import ConsumerService
    from hexlake.stream.runner import build_consumers
    from hexlake.warehouse import get_warehouse, make_raw_loader
    from hexlake.warehouse.service import LoaderService

    name = name or consumer_name()
    parts = stream_parts(which)
    services: list[BackgroundService] = []
    loader: LoaderService | None = None
    if "loader" in which:
        raw = make_raw_loader(get_log(runtime), get_warehouse(runtime), runtime.settings.warehouse, consumer=name)
        loader = LoaderService(raw, runtime.settings.warehouse.loader_interval_s, exit_when_drained=until_idle)
        services.append(loader)
    services += [
        ConsumerService(c, exit_when_drained=until_idle) for c in (build_consumers(runtime, parts) if parts else [])
    ]
    if "pipelines" in which:  # scheduled pipelines (hexlake.pipeline), on their crons
        from hexlake.pipeline.config import load_pipelines
        from hexlake.pipeline.service import PipelineService

        services.append(PipelineService(runtime, load_pipelines(runtime.settings.data_dir)))
    transform = "transform" in which  # SQLMesh runs out of the API process: they do not share its GIL
    if transform and not until_idle:
        from hexlake.transform.service import scheduler

        services.append(scheduler(runtime))
    extra = list(beside)  # never keep a worker alive
    for service in extra + services:
        service.start()
    while any(s.running for s in services) and not stop.wait(0.2):
        pass
    if not stop_all(extra + services, stop_timeout_s):
        log.warning("worker %s: some parts were still busy after %.0fs", name, stop_timeout_s)
    if transform and until_idle and not stop.is_set():  # a batch job: load everything, then build once
        from hexlake.transform import operations

        operations.run(runtime, trigger="worker", tier="all")
    return {"consumer": name, "loaded": loader.loaded if loader else 0,
            "parts": ["loader"] * bool(loader) + parts + ["transform"] * transform}


def _check_parts(only: str) -> str:
    """A usage error (exit 2, usage line) naming the valid parts when --only has an unknown one."""
    unknown = sorted({p.strip() for p in only.split(",") if p.strip()} - set(PARTS + OPT_IN_PARTS))
    if unknown:
        raise typer.BadParameter(
            f"unknown worker part(s) {', '.join(unknown)}; choose from {', '.join(PARTS + OPT_IN_PARTS)}"
        )
    return only


def _check_warehouse_free(settings: Settings, which: Sequence[str]) -> Settings:
    """The loader and the features sink write the warehouse; a DuckDB file takes one writing process,
    which is the server's when one runs: say so instead of failing on DuckDB's lock."""
    from hexlake.cli_common import server_running
    from hexlake.errors import ConfigError
    from hexlake.warehouse import landing_url

    writers = sorted({"loader", "features", "pipelines", "transform"} & set(which))
    # what the writers write is the landing warehouse: with spark://… (models on Spark) that is
    # still the data dir's DuckDB file
    if writers and landing_url(settings).startswith("duckdb") and server_running():
        raise ConfigError(
            f"a server runs on {settings.data_dir} and holds its DuckDB warehouse, which takes one writing "
            f"process; the worker's {' and '.join(writers)} cannot write it. Run the worker with "
            "--only counters,geofences, or give both a shared warehouse (HEXLAKE_WAREHOUSE_URL=postgresql://…)"
            + (
                " (with spark://… the models run on Spark, but raw events still land in the data dir's DuckDB file)"
                if settings.resolved_warehouse_url().startswith("spark://")
                else ""
            ),
            field="only",
        )
    return settings


@app.callback(invoke_without_command=True)
def worker(
    only: Annotated[
        str,
        typer.Option(
            "--only",
            help=f"Comma list of parts to run: {', '.join(PARTS)} (default: all); opt-in: "
            f"{', '.join(OPT_IN_PARTS)}.",
            callback=_check_parts
        ),
    ] = ",".join(PARTS),
    until_idle: Annotated[
        bool, typer.Option("--until-idle", help="Exit once the log is drained instead of waiting for new events.")
    ] = False,
    name: Annotated[
        str | None, typer.Option("--name", help="Consumer name in the log's status (default: <host>-<pid>).")
    ] = None,
    trim_keep: Annotated[
        int,
        typer.Option(
            "--trim-keep",
            help="Redis log: every minute trim entries all groups finished, keeping the newest N (-1: never trim).",
        ),
    ] = 100_000,
    log_retention_days: Annotated[
        int | None,
        typer.Option(
            "--log-retention-days",
            help="PostgreSQL log: every minute drop finished day partitions older than N days (default: keep all).",
        ),
    ] = None,
) -> None:
    """Run the raw loader and stream consumers against HEXLAKE_LOG_URL until SIGTERM/SIGINT (graceful:
    the current batch finishes). Start several, on several machines, with a PostgreSQL or Redis log."""
    from hexlake.cli_common import settings

    which = [p.strip() for p in only.split(",") if p.strip()]
    runtime = Runtime(_check_warehouse_free(settings(), which))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    from hexlake.serve.logs import configure_logging  # the same JSON log as `hexlake serve`

    configure_logging(runtime.settings.logging, runtime.settings.data_dir)
    from hexlake.gcpolicy import GcService, install

    install()  # this process's collector set up for a long-running service, as the server's
    started = time.monotonic()
    try:
        result = run_worker(
            runtime,
            which,
            stop,
            until_idle=until_idle,
            name=name,
            beside=[Housekeeping(runtime, trim_keep, log_retention_days), GcService()],
        )
    finally:
        runtime.close()
    log.info("worker %s stopped after %.1fs: %s", result["consumer"], time.monotonic() - started, result)


__all__ = ["PARTS", "Housekeeping", "app", "consumer_name", "run_worker"]
