from pydantic import Field

from hexlake._configbase import Section


class CollectConfig(Section):
    """HTTP collector limits."""

    max_event_bytes: int = Field(32 * 1024, description="Largest accepted single event, in bytes (413 above).")
    max_batch_events: int = Field(2500, description="Most events accepted in one request (413 above).")
    max_request_bytes: int = Field(
        5 * 1024 * 1024, description="Largest accepted request body after gzip decoding, in bytes (413 above)."
    )
    segment_max_event_bytes: int = Field(
        32 * 1024, description="Segment endpoints: largest message, in bytes (400 above, as Segment answers)."
    )
    segment_max_batch_bytes: int = Field(
        500 * 1024, description="Segment /v1/batch and /v1/import: largest body after gzip decoding (400 above)."
    )
