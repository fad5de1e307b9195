"""The gate: validation (schema registry), dedupe, privacy and enrichment at the door.

``Gate.process`` turns decoded native input events into ``Event`` envelopes, quarantine records
and per-item errors; ``SchemaRegistry`` holds the JSON Schemas; ``QuarantineStore`` keeps refused
events for fixing and replay. Exports load lazily (see ``hexlake._lazy``).
"""

from typing import TYPE_CHECKING

from hexlake._lazy import lazy_exports

_EXPORTS = {
    "DedupeWindow": "dedupe",
    **dict.fromkeys(["Event", "FailureMessage", "GateResult", "ItemError", "QuarantineRecord", "SourceInfo",
                     "decode_event", "encode_event"], "envelope"),
    **dict.fromkeys(["UNKNOWN_POLICIES", "Enricher", "Gate", "enrich_h3"], "pipeline"),
    **dict.fromkeys(["RETENTION_CLASSES", "Plan", "compile_plan"], "plan"),
    **dict.fromkeys(["STATUSES", "QuarantineCount", "QuarantineRow", "QuarantineStore"], "quarantine"),
    **dict.fromkeys(["CompiledSchema", "SchemaRecord", "SchemaRegistry", "builtin_schemas", "check_schema"],
                    "registry"),
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:
    from hexlake.gate.dedupe import DedupeWindow
    from hexlake.gate.envelope import (
        Event,
        FailureMessage,
        GateResult,
        ItemError,
        QuarantineRecord,
        SourceInfo,
        decode_event,
        encode_event,
    )
    from hexlake.gate.pipeline import UNKNOWN_POLICIES, Enricher, Gate, enrich_h3
    from hexlake.gate.plan import RETENTION_CLASSES, Plan, compile_plan
    from hexlake.gate.quarantine import STATUSES, QuarantineCount, QuarantineRow, QuarantineStore
    from hexlake.gate.registry import CompiledSchema, SchemaRecord, SchemaRegistry, builtin_schemas, check_schema

__all__ = [
    "RETENTION_CLASSES",
    "STATUSES",
    "UNKNOWN_POLICIES",
    "CompiledSchema",
    "DedupeWindow",
    "Enricher",
    "Event",
    "FailureMessage",
    "Gate",
    "GateResult",
    "ItemError",
    "Plan",
    "QuarantineCount",
    "QuarantineRecord",
    "QuarantineRow",
    "QuarantineStore",
    "SchemaRecord",
    "SchemaRegistry",
    "SourceInfo",
    "builtin_schemas",
    "check_schema",
    "compile_plan",
    "decode_event",
    "encode_event",
    "enrich_h3",
]
