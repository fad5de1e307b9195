"""DDL of the raw layer: the contract between the raw loader and the SQLMesh models.

``raw_events`` holds one row per ``event_id`` (the loader is idempotent on it), partitioned by
``load_date``. Times are UTC ``TIMESTAMP`` (no zone) so the same models run on DuckDB and PostgreSQL.
JSON columns hold the envelope's ``properties``, ``context`` and ``consent`` objects.
"""

RAW_EVENTS_COLUMNS: list[tuple[str, str]] = [
    ("event_id", "VARCHAR NOT NULL"),
    ("event_type", "VARCHAR NOT NULL"),
    ("schema_version", "INTEGER NOT NULL"),
    ("source", "VARCHAR NOT NULL"),
    ("user_key", "VARCHAR"),
    ("anonymous_key", "VARCHAR"),
    ("session_id", "VARCHAR"),
    ("ts", "TIMESTAMP NOT NULL"),
    ("received_at", "TIMESTAMP NOT NULL"),
    ("properties", "JSON"),
    ("context", "JSON"),
    ("lat", "DOUBLE"),
    ("lng", "DOUBLE"),
    ("accuracy_m", "DOUBLE"),
    ("h3_r6", "VARCHAR"),
    ("h3_r9", "VARCHAR"),
    ("h3_r12", "VARCHAR"),
    ("consent", "JSON"),
    ("retention", "VARCHAR"),
    ("log_offset", "BIGINT"),
    ("load_date", "DATE NOT NULL"),
    ("loaded_at", "TIMESTAMP NOT NULL"),
]

RAW_EVENTS_DDL = (
    "CREATE TABLE IF NOT EXISTS raw_events (\n    "
    + ",\n    ".join(f"{name} {typ}" for name, typ in RAW_EVENTS_COLUMNS)
    + "\n)"
)

#: Every event whatever its tier: the models read this view. Without a cold tier it is ``raw_events``;
#: ``hexlake.lake.tiers.refresh_view`` replaces it with hot UNION ALL the cold files after a move.
#: IF NOT EXISTS: opening the warehouse must not drop the cold files from it.
RAW_EVENTS_ALL = "raw_events_all"
RAW_EVENTS_ALL_DDL = (f"CREATE VIEW IF NOT EXISTS {RAW_EVENTS_ALL} AS SELECT "
                      + ", ".join(name for name, _ in RAW_EVENTS_COLUMNS) + " FROM raw_events")

__all__ = ["RAW_EVENTS_ALL", "RAW_EVENTS_ALL_DDL", "RAW_EVENTS_COLUMNS", "RAW_EVENTS_DDL"]
