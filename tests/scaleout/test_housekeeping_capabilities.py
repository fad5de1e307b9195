"""Worker housekeeping uses only the abilities a log backend declares (``SUPPORTS_*``), never ``hasattr``."""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path
from typing import ClassVar

from hexlake.config import Settings
from hexlake.log.backends.memory import MemoryEventLog
from hexlake.runtime import Runtime
from hexlake.worker import Housekeeping


class Undeclared(MemoryEventLog):
    """Has ``trim`` and ``drop_partitions_before`` methods but does not declare them."""

    def trim(self, keep: int = 10_000) -> int:
        raise AssertionError("trim called on a backend that does not declare SUPPORTS_TRIM")

    def drop_partitions_before(self, day: date, *, force: bool = False) -> list[date]:
        raise AssertionError("drop_partitions_before called without SUPPORTS_DROP_PARTITIONS")


class Declared(MemoryEventLog):
    SUPPORTS_TRIM: ClassVar[bool] = True
    SUPPORTS_DROP_PARTITIONS: ClassVar[bool] = True

    def trim(self, keep: int = 10_000) -> int:
        return 7

    def drop_partitions_before(self, day: date, *, force: bool = False) -> list[date]:
        return [date(2020, 1, 1)]


def housekeeping(tmp_path: Path, log: MemoryEventLog, **kwargs: int | None) -> Housekeeping:
    runtime = Runtime(Settings(data_dir=tmp_path, log_url="memory://"))
    runtime.resource("log", lambda rt: log)
    return Housekeeping(runtime, trim_keep=kwargs.get("trim_keep", 10) or 0, retention_days=kwargs.get("days"),
                        every_s=3600)


def test_undeclared_abilities_are_never_called(tmp_path: Path) -> None:
    assert housekeeping(tmp_path, Undeclared(), days=1).once() == {}


def test_declared_abilities_are_used(tmp_path: Path) -> None:
    assert housekeeping(tmp_path, Declared(), days=1).once() == {"trimmed": 7, "dropped_days": ["2020-01-01"]}
    assert housekeeping(tmp_path, Declared(), days=None).once() == {"trimmed": 7}  # no retention: keep days


def test_housekeeping_is_a_service_that_stops_at_once(tmp_path: Path) -> None:
    svc = housekeeping(tmp_path, Declared(), days=1)
    svc.start()
    started = time.monotonic()
    assert svc.stop(5.0) and time.monotonic() - started < 1.0  # the hour-long wait is interrupted
    assert svc.runs == 0  # stopped before its first pass
