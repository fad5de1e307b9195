from pydantic import Field

from hexlake._configbase import Section

DEFAULT_RETENTION = {"transaction": "7y", "content": "7y", "user_activity": "2y", "interaction": "1y",
                     "location": "90d"}


class PrivacyConfig(Section):
    """Quarantine and upload expiry, retention classes, the housekeeping schedule."""

    housekeeping_cron: str = Field(
        "*/10 * * * *", description="When expired quarantine rows, uploads and out-of-retention data are deleted.")
    quarantine_days: float = Field(30.0, description="Quarantined events are deleted this many days after refusal.")
    upload_abandoned_hours: float = Field(
        24.0, description="Uploads never imported are deleted (rows and files) after this many hours.")
    retention_enabled: bool = Field(True, description="Delete events older than their x-retention class.")
    retention_classes: dict[str, str] = Field(
        DEFAULT_RETENTION,
        description="x-retention class -> duration (90d, 6w, 12m, 7y); events without one never expire.",
    )
