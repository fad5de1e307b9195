from pydantic import Field

from hexlake._configbase import Section


class StreamConfig(Section):
    """Real-time consumers."""

    window_minutes: int = Field(10, description="Per-user tumbling window length.")
    allowed_lateness_s: float = Field(
        60.0, description="Events later than the watermark by more go to the late output.")
    feature_ttl_s: float = Field(86_400.0, description="Online feature values expire after this.")
    enabled: bool = Field(True, description="Run the stream consumers inside the server.")
    consumers: list[str] = Field(
        ["counters", "features", "geofences"],
        description="Which consumers the server runs (counters, features, geofences).")
    batch_size: int = Field(1000, description="Most messages one consumer micro-batch leases from the log.")
    idle_sleep_s: float = Field(0.05, description="Pause of an idle consumer before polling the log again.")
    max_outbox: int = Field(
        1000, description="Pending sink outputs above which a consumer stops reading (backpressure).")
    counter_ttl_s: float = Field(
        3600.0, description="How long a per-minute realtime counter stays readable after its minute.")
    trending_window_minutes: int = Field(60, description="Sliding window of trending places.")
    trending_half_life_minutes: float = Field(
        15.0, description="Half-life of the decay of trending place counts.")
    geofence_hysteresis_m: float = Field(
        25.0, description="A user inside a geofence exits only when this far outside it.")
    geofence_max_accuracy_m: float = Field(
        500.0, description="Pings less accurate than this are ignored for geofences.")
    webhook_max_attempts: int = Field(6, description="Webhook delivery attempts before a delivery is marked failed.")
    webhook_backoff_s: float = Field(1.0, description="First webhook retry delay; doubles on every failed attempt.")
