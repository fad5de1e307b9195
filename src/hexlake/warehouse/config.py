from pydantic import Field

from hexlake._configbase import Section


class WarehouseConfig(Section):
    """Raw loader from the log into the warehouse."""

    loader_batch: int = Field(20_000, description="Most log messages the raw loader moves per micro-batch.")
    loader_interval_s: float = Field(0.5, description="Pause of the in-server loader when the log is empty.")
