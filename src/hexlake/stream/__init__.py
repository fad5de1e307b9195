"""The stream stage: micro-batch consumers of the EventLog (see docs/realtime.md).

* ``consumer``    the framework: dedupe, watermark + late side output, one state commit, outbox, ack
* ``counters``    realtime TTL counters (``CounterStore``) and their operator
* ``user_windows``per-user tumbling windows → online store + ``features_user_window``
* ``geofence_*``  geofence registry, geometry and the enter/exit operator; ``webhooks`` deliveries
* ``runner``      wiring of the three consumers for the server (``service``) or a worker process
"""

from hexlake.stream.consumer import BatchOutput, Consumer, ConsumerOptions, Operator
from hexlake.stream.counters import CounterStore, MemoryCounterStore, SqliteCounterStore
from hexlake.stream.timeutil import Watermark

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
