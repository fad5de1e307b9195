from typing import Literal

from pydantic import Field

from hexlake._configbase import Section


class GateConfig(Section):
    """Validation, dedupe and privacy at the door."""

    dedupe_window: int = Field(
        500_000, description="How many recent event ids the gate remembers to answer retries as duplicates."
    )
    max_clock_skew_s: float = Field(
        86_400.0, description="Skew corrections larger than this are ignored (client clock considered broken)."
    )
    coarse_h3_res: int = Field(9, description="H3 resolution location is snapped to without precise consent.")
    pii_policy: Literal["hash", "mask", "drop", "keep"] = Field(
        "hash", description="What the scrub does with PII found in fields no x-pii annotates (docs/privacy.md)."
    )
    source_pii_policy: dict[str, Literal["hash", "mask", "drop", "keep"]] = Field(
        {}, description="Per-source override of pii_policy, e.g. {\"partner\": \"drop\"}."
    )
