from pydantic import Field

from hexlake._configbase import Section


class QualityConfig(Section):
    """Data-quality monitors: volume anomalies, schema drift, quarantine rate, freshness."""

    enabled: bool = Field(True, description="Run the quality monitors inside the server.")
    interval_s: float = Field(300.0, description="How often the monitors run.")
    webhook_url: str | None = Field(None, description="POST new alerts here (signed like geofence webhooks).")
    volume_z: float = Field(4.0, description="Robust z-score of an hour's count that counts as a volume anomaly.")
    volume_weeks: int = Field(4, description="Earlier weeks whose same hour forms the volume baseline.")
    volume_min_weeks: int = Field(2, description="Fewer baseline weeks with data than this: no volume verdict.")
    quarantine_rate: float = Field(0.05, description="Quarantined share of an hour's events that is a spike...")
    quarantine_factor: float = Field(3.0, description="...when also this many times the previous week's share.")
    quarantine_min: int = Field(5, description="Fewer quarantined events in the hour than this never alert.")
    max_lag_s: float = Field(3600.0, description="A model this far behind the raw layer is a freshness breach.")
    drift_baseline_days: int = Field(7, description="A property key not seen in these days before is new.")
