"""SQLite-specific behaviour: crash durability, multi-process sharing, retention, URL parsing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from hexlake.errors import ConfigError
from hexlake.log import AppendItem, LogConfig, open_log
from hexlake.log.backends.sqlite import SqliteEventLog

CHILD = """
import sys
from hexlake.log import AppendItem, open_log
log = open_log(sys.argv[1])
n = 0
while True:
    offs = log.append([AppendItem(key="k", event_id=f"e{n}_{i}", payload=b"x" * 600) for i in range(50)])
    print(offs[-1], flush=True)
    n += 1
"""


def test_acknowledged_appends_survive_sigkill(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'log.sqlite'}"
    child = subprocess.Popen([sys.executable, "-c", CHILD, url], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    acked = [int(child.stdout.readline()) for _ in range(20)]
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    log = open_log(url)
    try:
        assert log.head_offset() >= acked[-1]
        assert len(log.read("check", "c", 100_000)) == log.head_offset()
    finally:
        log.close()


def test_two_instances_on_one_file_share_work_without_lock_errors(tmp_path: Path) -> None:
    path = tmp_path / "log.sqlite"
    a, b = SqliteEventLog(path), SqliteEventLog(path)  # stands in for two processes
    try:
        errors: list[BaseException] = []

        def produce(log: SqliteEventLog, tag: str) -> None:
            try:
                for i in range(30):
                    log.append([AppendItem(key=f"{tag}{i}", event_id=f"{tag}{i}_{j}", payload=b"p")
                                for j in range(10)])
            except BaseException as exc:
                errors.append(exc)

        def consume(log: SqliteEventLog, seen: list[int]) -> None:
            try:
                for _ in range(60):
                    batch = log.read("g", f"c{id(seen)}", 25)
                    seen.extend(m.offset for m in batch)
                    log.ack("g", [m.offset for m in batch])
            except BaseException as exc:
                errors.append(exc)

        seen_a: list[int] = []
        seen_b: list[int] = []
        threads = [threading.Thread(target=produce, args=(a, "a")), threading.Thread(target=produce, args=(b, "b")),
                   threading.Thread(target=consume, args=(a, seen_a)),
                   threading.Thread(target=consume, args=(b, seen_b))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        rest = a.read("g", "final", 10_000)
        delivered = seen_a + seen_b + [m.offset for m in rest]
        assert sorted(delivered) == list(range(1, 601))
    finally:
        a.close()
        b.close()


def test_truncate_before_keeps_messages_some_group_still_needs(tmp_path: Path) -> None:
    log = SqliteEventLog(tmp_path / "log.sqlite")
    try:
        sent = log.append([AppendItem(key=str(i), event_id=str(i), payload=b"p") for i in range(10)])
        log.ack("fast", [m.offset for m in log.read("fast", "c", 10)])
        log.ack("slow", [m.offset for m in log.read("slow", "c", 4) if m.offset != sent[2]])
        assert log.truncate_before(sent[-1] + 1) == 2  # slow still needs sent[2]
        assert [m.offset for m in log.read("slow", "c2", 10, visibility_timeout_s=30)] == sent[4:]
        assert log.head_offset() == sent[-1]
    finally:
        log.close()


def test_truncate_never_removes_the_newest_message(tmp_path: Path) -> None:
    log = SqliteEventLog(tmp_path / "log.sqlite")
    try:
        sent = log.append([AppendItem(key="k", event_id="a", payload=b"p")] * 3)
        log.ack("g", [m.offset for m in log.read("g", "c", 10)])
        log.truncate_before(10**9)
        assert log.append([AppendItem(key="k", event_id="b", payload=b"p")]) == [sent[-1] + 1]
    finally:
        log.close()


def test_appending_after_close_is_a_clear_error(tmp_path: Path) -> None:
    log = SqliteEventLog(tmp_path / "log.sqlite")
    log.close()
    with pytest.raises(Exception, match="closed"):
        log.append([AppendItem(key="k", event_id="a", payload=b"p")])


@pytest.mark.parametrize("url", ["kafka://broker:9092", "sqlite:///", "nonsense"])
def test_open_log_refuses_unknown_urls_naming_the_supported_schemes(url: str) -> None:
    with pytest.raises(ConfigError) as info:
        open_log(url, LogConfig())
    assert url in info.value.message
    assert info.value.field == "log_url"
    if url != "sqlite:///":
        assert "sqlite://" in info.value.message and "memory://" in info.value.message
