"""One JSON log for serve and worker: size-rotated file, SQLMesh quiet, warnings as JSON lines."""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from hexlake.serve.config import LoggingConfig
from hexlake.serve.logs import configure_logging


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, {n: logging.getLogger(n).level for n in ("sqlmesh", "sqlglot")})
    yield
    for handler in root.handlers:
        handler.close()
    root.handlers[:], root.level = saved[0], saved[1]
    for name, level in saved[2].items():
        logging.getLogger(name).setLevel(level)
    logging.captureWarnings(False)


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_file_log_rotates_by_size_and_keeps_n_backups(tmp_path: Path, restore_logging: None) -> None:
    config = LoggingConfig(file=Path("server.log"), max_bytes=2048, backups=2)
    path = configure_logging(config, tmp_path)
    assert path == tmp_path / "server.log"
    for i in range(300):
        logging.getLogger("hexlake.test").info("line %d", i, extra={"n": i})
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["server.log", "server.log.1", "server.log.2"]
    assert all(p.stat().st_size <= 2048 for p in tmp_path.iterdir())
    newest = lines(path)[-1]
    assert (newest["msg"], newest["n"], newest["level"], newest["logger"]) == ("line 299", 299, "info", "hexlake.test")


def test_sqlmesh_is_quiet_unless_asked_and_warnings_are_json(tmp_path: Path, restore_logging: None) -> None:
    path = configure_logging(LoggingConfig(file=tmp_path / "a.log"), tmp_path)
    assert path is not None
    logging.getLogger("sqlmesh.core.engine_adapter.base").info("Executing SQL: SELECT 1")
    logging.getLogger("sqlglot").info("parsing")
    logging.getLogger("sqlmesh.core.context").warning("model is stale")
    with warnings.catch_warnings():  # another test may have left a filter that hides UserWarning
        warnings.simplefilter("always")
        warnings.warn("something odd", UserWarning, stacklevel=1)
    got = lines(path)
    assert [g["msg"] for g in got if g["logger"].startswith("sql")] == ["model is stale"]
    assert any(g["logger"] == "py.warnings" and "something odd" in g["msg"] for g in got)
    path2 = configure_logging(LoggingConfig(file=tmp_path / "b.log", sqlmesh_level="INFO"), tmp_path)
    assert path2 is not None
    logging.getLogger("sqlmesh.core.engine_adapter.base").info("Executing SQL: SELECT 2")
    assert [g["msg"] for g in lines(path2)] == ["Executing SQL: SELECT 2"]


def test_without_a_file_the_log_goes_to_stderr_as_json(
        restore_logging: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert configure_logging(LoggingConfig()) is None
    logging.getLogger("hexlake.worker").info("worker started", extra={"consumer": "h-1"})
    err = capsys.readouterr().err.strip().splitlines()
    assert json.loads(err[-1])["consumer"] == "h-1"


def test_worker_logs_the_same_json_as_serve(tmp_path: Path) -> None:
    from tests.helpers import hexlake, init

    data = tmp_path / "data"
    init(data)
    done = hexlake(data, "worker", "--only", "loader", "--until-idle", timeout=120)
    records = [json.loads(line) for line in done.stderr.splitlines() if line.strip()]
    assert records, done.stderr
    assert {"ts", "level", "logger", "msg"} <= set(records[-1])
    assert any(r["logger"] == "hexlake.worker" and "stopped" in r["msg"] for r in records)
