"""The server's import worker: a BackgroundService; transient failures retried, terminal ones fail at once."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from hexlake.config import Settings
from hexlake.errors import ImportRefused, LogError
from hexlake.importers.runner import ImportOptions
from hexlake.importers.service import ImportWorker
from hexlake.runtime import Runtime


class FakeImporter:
    def __init__(self, failures: list[Exception]) -> None:
        self.failures, self.calls = failures, 0

    def import_path(self, path: Path, user_id: str, options: ImportOptions, **kw: Any) -> None:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)


class FakeUploads:
    def __init__(self) -> None:
        self.status: dict[str, tuple[str, str]] = {}

    def set_status(self, upload_id: str, status: str, import_id: str) -> None:
        self.status[upload_id] = (status, import_id)


def run_one(tmp_path: Path, failures: list[Exception], max_tries: int = 3) -> tuple[ImportWorker, FakeImporter,
                                                                                      FakeUploads]:
    runtime = Runtime(Settings(data_dir=tmp_path))
    importer, uploads = FakeImporter(failures), FakeUploads()
    runtime.resource("importers.importer", lambda rt: importer)
    runtime.resource("importers.uploads", lambda rt: uploads)
    worker = ImportWorker(runtime, max_tries=max_tries, interval_s=0.01)
    worker.backoff_base_s = 0.01
    worker.submit("imp1", tmp_path / "a.zip", "user", ImportOptions(), "up1")
    deadline = time.monotonic() + 10
    while "up1" not in uploads.status and time.monotonic() < deadline:
        time.sleep(0.01)
    assert worker.stop(5.0)
    return worker, importer, uploads


def test_transient_failures_are_retried_with_backoff_then_succeed(tmp_path: Path) -> None:
    worker, importer, uploads = run_one(tmp_path, [LogError("log busy"), LogError("log busy")])
    assert importer.calls == 3 and uploads.status["up1"] == ("imported", "imp1")
    assert worker.errors == 2 and worker.healthy


@pytest.mark.parametrize("exc", [ImportRefused("not a Takeout archive"), ValueError("bug")])
def test_terminal_failure_marks_the_upload_failed_at_once(tmp_path: Path, exc: Exception) -> None:
    _, importer, uploads = run_one(tmp_path, [exc])
    assert importer.calls == 1 and uploads.status["up1"] == ("failed", "imp1")


def test_transient_failure_gives_up_after_max_tries(tmp_path: Path) -> None:
    _, importer, uploads = run_one(tmp_path, [LogError("down")] * 5, max_tries=2)
    assert importer.calls == 2 and uploads.status["up1"] == ("failed", "imp1")
