from pydantic import Field

from hexlake._configbase import Section


class StreamConfig(Section):
    """Real-time consumers."""

    window_minutes: int = Field(10, description="Per-user tumbling window length.")
    allowed_lateness_s: float = Field(60.0, description="Events later than the watermark by more go to the late output.")
    feature_ttl_s: float = Field(86_400.0, description="Online feature values expire after this.")
