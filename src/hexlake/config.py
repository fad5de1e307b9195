"""One settings class for all of hexlake.

Sources, highest first: keyword arguments, ``HEXLAKE_*`` environment variables (nested sections with
``__``, e.g. ``HEXLAKE_COLLECT__MAX_BATCH_EVENTS=1000``), ``hexlake.toml`` (path in
``HEXLAKE_CONFIG``, default ``./hexlake.toml``), defaults. Backends are picked by URL
(``HEXLAKE_LOG_URL=postgresql://…``); an unset URL means the embedded default in the data dir.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from hexlake.backup.config import BackupConfig
from hexlake.collect.config import CollectConfig
from hexlake.gate.config import GateConfig
from hexlake.importers.config import ImportConfig
from hexlake.lake.config import LakeConfig
from hexlake.log.config import LogConfig
from hexlake.ml.config import MLConfig
from hexlake.privacy.config import PrivacyConfig
from hexlake.quality.config import QualityConfig
from hexlake.serve.config import LoggingConfig, ServeConfig
from hexlake.spatial.config import SpatialConfig
from hexlake.stream.config import StreamConfig
from hexlake.transform.config import TransformConfig
from hexlake.warehouse.config import QueryConfig, WarehouseConfig


class Settings(BaseSettings):
    """hexlake settings; every field is documented in docs/configuration.md (checked by a test)."""

    model_config = SettingsConfigDict(
        env_prefix="HEXLAKE_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    data_dir: Path = Field(Path(".hexlake"), description="Where the embedded files, secret and keys live.")
    log_url: str | None = Field(None, description="EventLog backend URL; default sqlite in the data dir.")
    warehouse_url: str | None = Field(None, description="Warehouse URL; default duckdb in the data dir.")
    online_url: str | None = Field(None, description="Online feature store URL; default sqlite in the data dir.")
    collect: CollectConfig = Field(default_factory=CollectConfig, description="HTTP collector limits.")
    gate: GateConfig = Field(default_factory=GateConfig, description="Validation, dedupe, privacy.")
    log: LogConfig = Field(default_factory=LogConfig, description="EventLog delivery behaviour.")
    warehouse: WarehouseConfig = Field(default_factory=WarehouseConfig, description="Raw loader.")
    query: QueryConfig = Field(default_factory=QueryConfig, description="User-SQL sandbox limits and audit.")
    transform: TransformConfig = Field(default_factory=TransformConfig, description="SQLMesh + scheduler.")
    stream: StreamConfig = Field(default_factory=StreamConfig, description="Real-time consumers.")
    spatial: SpatialConfig = Field(default_factory=SpatialConfig, description="Places and space.")
    serve: ServeConfig = Field(default_factory=ServeConfig, description="HTTP server.")
    importers: ImportConfig = Field(default_factory=ImportConfig, description="Archive imports.")
    privacy: PrivacyConfig = Field(default_factory=PrivacyConfig, description="Expiry, retention, housekeeping.")
    quality: QualityConfig = Field(default_factory=QualityConfig, description="Data-quality monitors.")
    logging: LoggingConfig = Field(default_factory=LoggingConfig, description="The JSON log of serve and worker.")
    lake: LakeConfig = Field(default_factory=LakeConfig, description="Iceberg lake and hot/cold tiers.")
    backup: BackupConfig = Field(default_factory=BackupConfig, description="Online backups and their retention.")
    ml: MLConfig = Field(default_factory=MLConfig, description="Recommendations.")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_path = Path(os.environ.get("HEXLAKE_CONFIG", "hexlake.toml"))
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_file=toml_path))

    @property
    def paths(self) -> DataPaths:
        return DataPaths(self.data_dir)

    def resolved_log_url(self) -> str:
        return self.log_url or f"sqlite:///{self.paths.log_db}"

    def resolved_warehouse_url(self) -> str:
        return self.warehouse_url or f"duckdb:///{self.paths.warehouse_db}"

    def resolved_online_url(self) -> str:
        return self.online_url or f"sqlite:///{self.paths.online_db}"


class DataPaths:
    """The files of a data dir. One place names them so no stage guesses another's file."""

    def __init__(self, root: Path):
        self.root = root

    @property
    def secret(self) -> Path:
        return self.root / "secret.key"

    @property
    def catalog_db(self) -> Path:
        """Sources, keys, schema registry, quarantine (SQLite)."""
        return self.root / "catalog.sqlite"

    @property
    def log_db(self) -> Path:
        return self.root / "log.sqlite"

    @property
    def warehouse_db(self) -> Path:
        return self.root / "warehouse.duckdb"

    @property
    def online_db(self) -> Path:
        return self.root / "online.sqlite"

    @property
    def backups_dir(self) -> Path:
        """Backup archives, unless ``backup.dir`` puts them elsewhere (it should: another disk)."""
        return self.root / "backups"

    @property
    def lake_dir(self) -> Path:
        """Data files of the Iceberg lake (the cold tier of ``raw_events``)."""
        return self.root / "lake"

    @property
    def lake_catalog_db(self) -> Path:
        """The lake's Iceberg SQL catalog (SQLite) when ``lake.catalog_url`` is unset."""
        return self.root / "lake_catalog.sqlite"

    @property
    def sqlmesh_state(self) -> Path:
        return self.root / "sqlmesh_state.duckdb"

    @property
    def server_file(self) -> Path:
        """Written by a running server: its address, pid and an internal admin token."""
        return self.root / "server.json"

    @property
    def uploads(self) -> Path:
        return self.root / "uploads"

    @property
    def imports_db(self) -> Path:
        """Import jobs and resumable uploads (SQLite)."""
        return self.root / "imports.sqlite"

    @property
    def stream_db(self) -> Path:
        """Realtime counters, the geofence registry, webhook deliveries (SQLite)."""
        return self.root / "stream.sqlite"

    @property
    def stream_groups(self) -> Path:
        """One state file per stream consumer group: ``<group>.sqlite``."""
        return self.root / "stream"

    @property
    def places_db(self) -> Path:
        """The places registry (SQLite)."""
        return self.root / "places.sqlite"

    @property
    def quality_db(self) -> Path:
        """Data-quality alert webhooks (SQLite)."""
        return self.root / "quality.sqlite"

    @property
    def transform_project(self) -> Path:
        """The data dir's own SQLMesh project: staging generated by ``hexlake extract``, users' models."""
        return self.root / "transform"

    @property
    def pipelines_db(self) -> Path:
        """Pipeline run history (SQLite)."""
        return self.root / "pipelines.sqlite"

    @property
    def pipeline_webhooks(self) -> Path:
        """Pipeline failure webhooks waiting to be delivered (SQLite)."""
        return self.root / "pipeline_webhooks.sqlite"

    @property
    def spark_warehouse(self) -> Path:
        """Parquet tables of the marts when they run on Spark (``spark://`` warehouse URL)."""
        return self.root / "spark-warehouse"

    @property
    def sqlmesh_state_spark(self) -> Path:
        """SQLMesh's state for the Spark gateway (DuckDB)."""
        return self.root / "sqlmesh_state_spark.duckdb"

    @property
    def sqlmesh_cache(self) -> Path:
        """SQLMesh's model cache directory."""
        return self.root / "sqlmesh_cache"

    @property
    def server_out(self) -> Path:
        """Stdout/stderr of a server started in the background (a crash before its log starts)."""
        return self.root / "server.out"

    @property
    def server_log(self) -> Path:
        """Output of a server started in the background (``hexlake demo``)."""
        return self.root / "server.log"


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment and ``hexlake.toml``; keyword overrides win."""
    return Settings(**overrides)  # type: ignore[arg-type]


__all__ = ["DataPaths", "Settings", "load_settings"]
