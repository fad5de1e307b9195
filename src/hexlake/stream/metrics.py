"""Prometheus metrics of the stream consumers (served by the server's ``/metrics``)."""

from prometheus_client import Counter, Gauge, Histogram

EVENTS = Counter("hexlake_stream_events_total", "Events processed by a consumer group", ["group"])
LATE = Counter("hexlake_stream_late_events_total", "Events sent to the late side output", ["group"])
DUPLICATES = Counter("hexlake_stream_duplicates_total", "Redelivered events skipped", ["group"])
FAILURES = Counter("hexlake_stream_batch_failures_total", "Micro-batches that failed and were nacked", ["group"])
BATCH_SECONDS = Histogram(
    "hexlake_stream_batch_seconds", "Micro-batch processing time", ["group"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
LAG = Gauge("hexlake_stream_lag_messages", "Messages of the group not yet acked in the log", ["group"])
WATERMARK = Gauge("hexlake_stream_watermark_seconds", "Event-time watermark (epoch seconds)", ["group"])
OUTBOX = Gauge("hexlake_stream_outbox_pending", "Outputs waiting for delivery to their sinks", ["group"])
SINK_ERRORS = Counter("hexlake_stream_sink_errors_total", "Failed sink deliveries (retried)", ["group", "sink"])
