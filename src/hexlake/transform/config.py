from pydantic import Field, field_validator

from hexlake._configbase import Section


class TransformConfig(Section):
    """SQLMesh models and the built-in scheduler."""

    cron: str = Field("* * * * *", description="When the scheduler runs incremental model runs (cron).")
    asof_cron: str = Field("*/15 * * * *", description="When the scheduler rebuilds the as-of tier: the FULL "
                           "models over all events (marts_core_dim_users, place_popularity, dim_places, "
                           "fact_recommendations, features.*). The fresh tier runs on every tick and load.")
    lookback_days: int = Field(1, description="Late-data lookback of incremental models, in days "
                                              "(older late days are restated from ops.load_touches).")
    heatmap_k: int = Field(5, description="Heatmap/place cells with fewer distinct users are suppressed.")
    at_risk_days: int = Field(7, description="A user inactive this many days is 'at_risk'.")
    churned_days: int = Field(30, description="A user inactive this many days is 'churned'.")
    new_days: int = Field(7, description="A user who signed up within this many days is 'new'.")
    start: str = Field("2020-01-01", description="First day the models cover; older events are ignored.")
    scheduler_enabled: bool = Field(True, description="Run the transform scheduler inside the server.")
    on_load: bool = Field(True, description="Also run as soon as the loader loaded new events (checked "
                          "every second), not only on cron ticks: back-to-back fresh-tier runs under ingest.")
    retries: int = Field(3, description="Attempts of a failing scheduled run before the next tick.")
    retry_backoff_s: float = Field(2.0, description="First retry delay of a failed run; doubles per attempt.")
    lock_wait_s: float = Field(600.0, ge=0, description="On a PostgreSQL warehouse, how long a run or plan waits "
                               "while another process runs one (one at a time across servers and workers).")
    history_keep: int = Field(10_000, description="Most run-history rows kept (oldest pruned).")

    @field_validator("asof_cron")
    @classmethod
    def _asof_cron(cls, value: str) -> str:
        from hexlake.ops.scheduler import validate_cron

        return validate_cron(value)
