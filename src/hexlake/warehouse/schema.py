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

__all__ = ["RAW_EVENTS_COLUMNS", "RAW_EVENTS_DDL"]
