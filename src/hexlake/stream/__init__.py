"""The stream stage: micro-batch consumers of the EventLog (see docs/realtime.md).

* ``consumer``    the framework: dedupe, watermark + late side output, one state commit, outbox, ack
* ``counters``    realtime TTL counters (``CounterStore``) and their operator
* ``user_windows``per-user tumbling windows → online store + ``features_user_window``
* ``geofence_*``  geofence registry, geometry and the enter/exit operator; ``webhooks`` deliveries
* ``runner``      wiring of the three consumers for the server (``service``) or a worker process
"""

from typing import Any

# Lazy: hexlake.config imports hexlake.stream.config, so this package must not import the
# framework (which imports hexlake.config) at import time.
_EXPORTS = {
    "BatchOutput": "hexlake.stream.consumer",
    "Consumer": "hexlake.stream.consumer",
    "ConsumerOptions": "hexlake.stream.consumer",
    "Operator": "hexlake.stream.consumer",
    "CounterStore": "hexlake.stream.counters",
    "MemoryCounterStore": "hexlake.stream.counters",
    "SqliteCounterStore": "hexlake.stream.counters",
    "Watermark": "hexlake.stream.timeutil",
}


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(name)
    import importlib

    return getattr(importlib.import_module(_EXPORTS[name]), name)


__all__ = [
    "BatchOutput",
    "Consumer",
    "ConsumerOptions",
    "CounterStore",
    "MemoryCounterStore",
    "Operator",
    "SqliteCounterStore",
    "Watermark",
]
