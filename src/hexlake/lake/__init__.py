"""The lake: raw events and marts as Apache Iceberg tables (pyiceberg, SQL catalog), and the cold
tier of ``raw_events`` (``hexlake tiers``). See docs/lake.md."""

from hexlake.lake.errors import LakeConfigError, LakeError

__all__ = ["LakeConfigError", "LakeError"]
