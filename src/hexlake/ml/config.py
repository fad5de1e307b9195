from pydantic import Field

from hexlake._configbase import Section


class MLConfig(Section):
    """Recommendations: how the served lists reach the log."""

    # Every response is an event, and each batch in the log wakes the raw loader and three stream
    # consumers in the server's process; at 0.5 s those bursts delayed ~1% of cache hits by 2-4 ms
    # (waiting for the GIL), at 2 s about half as many: hit p99 1.4-2.2 -> 1.0-1.6 ms (docs/ml.md).
    served_flush_s: float = Field(
        2.0, gt=0, le=60,
        description="How often the ml-events service sends the served recommendations to the log, as one batch.",
    )
