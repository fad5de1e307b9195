"""Creating a stream or bucket retries JetStream's "error creating store" (another client deleted the
account's last stream at that moment and the server removed the store directory); nothing else."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from nats.js.errors import ServerError

from hexlake.log.backends.nats import STORE_RACE, _created


def _flaky(failures: list[int]) -> tuple[list[int], Callable[[], Awaitable[str]]]:
    calls: list[int] = []

    async def make() -> str:
        calls.append(1)
        if len(calls) <= len(failures):
            raise ServerError(code=500, err_code=failures[len(calls) - 1], description="error creating store")
        return "stream"

    return calls, make


def test_the_store_race_is_retried_until_the_stream_is_made() -> None:
    calls, make = _flaky([STORE_RACE, STORE_RACE])
    assert asyncio.run(_created(make)) == "stream"
    assert len(calls) == 3


def test_other_server_errors_and_a_lasting_race_are_raised() -> None:
    calls, make = _flaky([10047])  # insufficient storage: no retry can help
    with pytest.raises(ServerError):
        asyncio.run(_created(make))
    assert len(calls) == 1
    calls, make = _flaky([STORE_RACE] * 9)
    with pytest.raises(ServerError):
        asyncio.run(_created(make, attempts=3))
    assert len(calls) == 3
