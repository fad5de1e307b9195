from pydantic import Field

from hexlake._configbase import Section


class WarehouseConfig(Section):
    """Raw loader from the log into the warehouse."""

    loader_batch: int = Field(20_000, description="Most log messages the raw loader moves per micro-batch.")
    loader_interval_s: float = Field(0.5, description="Pause of the in-server loader when the log is empty.")


class QueryConfig(Section):
    """Limits of the user-SQL sandbox (``POST /v1/query``, ``hexlake query``) and its audit log."""

    time_limit_s: float = Field(5.0, gt=0, description="Longest a user query may run before it is interrupted.")
    max_rows: int = Field(10_000, ge=1, description="Most rows one query returns; more is cut with truncated=true.")
    max_concurrent: int = Field(4, ge=1, description="User queries running at once in the server (429 beyond).")
    max_concurrent_per_key: int = Field(2, ge=1, description="User queries one key may run at once (429 beyond).")
    memory_limit: str = Field("2GB", description="DuckDB memory limit of the warehouse, which user SQL shares.")
    audit_retention_days: int = Field(730, ge=1, description="Days the query audit log is kept (retention class).")
