"""Settings of the lake (Apache Iceberg) and of the hot/cold tiers."""

from pydantic import Field

from hexlake._configbase import Section


class LakeConfig(Section):
    """The Iceberg lake: raw events and marts as tables, and the cold tier of ``raw_events``."""

    catalog_url: str | None = Field(
        None, description="Iceberg SQL catalog: postgresql://… ; default SQLite lake_catalog.sqlite in the data dir.")
    hot_days: int = Field(0, ge=0, description="Events older than this many days move to the lake (0: never).")


__all__ = ["LakeConfig"]
