from __future__ import annotations

from collections.abc import Iterator

import pytest

from hexlake.config import Settings
from hexlake.gate.envelope import Event, decode_event
from hexlake.privacy.secret import create_secret
from hexlake.runtime import Runtime


@pytest.fixture
def runtime(settings: Settings) -> Iterator[Runtime]:
    """A runtime on a fresh data dir with its HMAC secret (what `hexlake init` creates)."""
    create_secret(settings.paths.secret)
    rt = Runtime(settings)
    yield rt
    rt.close()


def log_events(rt: Runtime) -> list[Event]:
    """Every event in the log, read through a throw-away consumer group."""
    from hexlake.log import get_log

    log = get_log(rt)
    group = f"t{len(log.status())}"
    log.create_group(group, from_start=True)
    out: list[Event] = []
    while batch := log.read(group, "c", 5000):
        out.extend(decode_event(m.payload) for m in batch)
        log.ack(group, [m.offset for m in batch])
    return out
