"""The durable EventLog stage: ``open_log(url)`` picks a backend by URL scheme.

``sqlite:///path/to/log.sqlite`` (embedded default) and ``memory://`` (tests) are built in;
PostgreSQL, Redis Streams and NATS JetStream backends register in ``BACKENDS``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from hexlake.errors import ConfigError
from hexlake.log.config import LogConfig
from hexlake.log.protocol import (
    AppendItem,
    DeadLetter,
    EventLog,
    GroupStatus,
    LogMessage,
    LogReader,
    PartitionDropper,
    Trimmable,
    as_partition_dropper,
    as_trimmable,
)

if TYPE_CHECKING:
    from hexlake.runtime import Runtime


def _open_sqlite(url: str, config: LogConfig, clock: Callable[[], float]) -> EventLog:
    from hexlake.log.backends.sqlite import SqliteEventLog

    path = url.removeprefix("sqlite:///")
    if not path or path == url:
        raise ConfigError(f"log URL {url!r} has no file path; use sqlite:///path/to/log.sqlite",
                          field="log_url")
    return SqliteEventLog(path, config, clock=clock)


def _open_memory(url: str, config: LogConfig, clock: Callable[[], float]) -> EventLog:
    from hexlake.log.backends.memory import MemoryEventLog

    return MemoryEventLog(config, clock=clock)


def _open_postgres(url: str, config: LogConfig, clock: Callable[[], float]) -> EventLog:
    from hexlake.log.backends.postgres import PostgresEventLog

    return PostgresEventLog(url, config, clock=clock)


def _open_redis(url: str, config: LogConfig, clock: Callable[[], float]) -> EventLog:
    from hexlake.log.backends.redis import RedisEventLog

    return RedisEventLog(url, config, clock=clock)


def _open_nats(url: str, config: LogConfig, clock: Callable[[], float]) -> EventLog:
    from hexlake.log.backends.nats import NatsEventLog

    return NatsEventLog(url, config, clock=clock)


#: URL scheme -> factory(url, config, clock). Other backends add themselves here.
BACKENDS: dict[str, Callable[[str, LogConfig, Callable[[], float]], EventLog]] = {
    "sqlite": _open_sqlite,
    "memory": _open_memory,
    "postgresql": _open_postgres,
    "postgres": _open_postgres,
    "redis": _open_redis,
    "nats": _open_nats,
}


def open_log(url: str, config: LogConfig | None = None, *,
             clock: Callable[[], float] = time.time) -> EventLog:
    """Open the EventLog at ``url``; ``clock`` (epoch seconds) is injectable for tests."""
    scheme = url.partition(":")[0].lower().split("+")[0]
    factory = BACKENDS.get(scheme)
    if factory is None:
        supported = ", ".join(f"{s}://" for s in sorted(BACKENDS))
        raise ConfigError(f"unsupported log URL {url!r}; supported schemes: {supported}", field="log_url")
    return factory(url, config or LogConfig.model_validate({}), clock)


def get_log(runtime: Runtime) -> EventLog:
    """The process's EventLog, opened once from ``runtime.settings`` (closed with the runtime)."""
    return runtime.resource(
        "log", lambda rt: open_log(rt.settings.resolved_log_url(), rt.settings.log))


def get_log_reader(runtime: Runtime) -> LogReader:
    """The inspection side of the process's EventLog (status pages, the CLI): cannot change it."""
    return get_log(runtime)


__all__ = [
    "BACKENDS",
    "AppendItem",
    "DeadLetter",
    "EventLog",
    "GroupStatus",
    "LogConfig",
    "LogMessage",
    "LogReader",
    "PartitionDropper",
    "Trimmable",
    "as_partition_dropper",
    "as_trimmable",
    "get_log",
    "get_log_reader",
    "open_log",
]
