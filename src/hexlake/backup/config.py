from pydantic import Field

from hexlake._configbase import Section


class BackupConfig(Section):
    """Online backups of the data dir: where, when, and how long each class is kept."""

    enabled: bool = Field(False, description="Run the backup schedule inside the server.")
    cron: str = Field("15 3 * * *", description="When the server takes a scheduled backup (server-local time).")
    dir: str | None = Field(None, description="Where archives go; default <data_dir>/backups.")
    keep_daily_days: float = Field(7.0, description="Daily backups are deleted after this many days.")
    keep_weekly_days: float = Field(30.0, description="Weekly backups (first of an ISO week) are kept this long.")
    keep_monthly_days: float = Field(365.0, description="Monthly backups (first of a month) are kept this long.")
