"""Pure mappers from third-party payloads (Segment, PostHog) to hexlake's native input dicts."""

from hexlake.collect.mapping.batch import MappedBatch, map_items
from hexlake.collect.mapping.posthog import map_event as map_posthog_event
from hexlake.collect.mapping.segment import map_message as map_segment_message

__all__ = ["MappedBatch", "map_items", "map_posthog_event", "map_segment_message"]
