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
    max_future_s: float = Field(
        86_400.0, description="Events timestamped more than this after they arrive are quarantined (max_future)."
    )
    max_past_days: float = Field(
        3650.0, description="Events older than this when they arrive are quarantined (max_past), "
        "except from historical sources."
    )
    historical_sources: list[str] = Field(
        ["takeout"], description="Sources that import history (backfills, takeout): any past is accepted."
    )
    source_max_future_s: dict[str, float] = Field({}, description="Per-source override of max_future_s.")
    source_max_past_days: dict[str, float] = Field({}, description="Per-source override of max_past_days.")
    coarse_h3_res: int = Field(9, description="H3 resolution location is snapped to without precise consent.")
    pii_policy: Literal["hash", "mask", "drop", "keep"] = Field(
        "hash", description="What the scrub does with PII found in fields no x-pii annotates (docs/privacy.md)."
    )
    source_pii_policy: dict[str, Literal["hash", "mask", "drop", "keep"]] = Field(
        {}, description="Per-source override of pii_policy, e.g. {\"partner\": \"drop\"}."
    )
