"""Pipeline definitions: ``<data_dir>/pipelines.toml``.

```toml
[pipelines.daily]
cron = "0 6 * * *"          # seed 004: daily at 6 AM UTC
retries = 3                 # attempts of a transiently failing run, backoff doubling from backoff_s
backoff_s = 30
webhook = "https://hooks.example.com/hexlake"
webhook_format = "slack"    # or "hexlake" (the default)

[[pipelines.daily.extract]]
source = "postgresql://app@db/app"
name = "app"
tables = ["users", "sessions"]
cursor = "updated_at"
pii = { users = { phone = "mask" } }
accepted = { users = { preferred_auth_method = ["email", "google", "apple"] } }

[pipelines.daily.sync]
targets = ["parquet:///mnt/lake"]
```
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from hexlake.errors import ConfigError

FILE = "pipelines.toml"


class ExtractStep(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str = Field(description="postgresql://… or mysql://…")
    tables: list[str] = Field(min_length=1)
    name: str | None = None
    cursor: str | None = None
    cdc: bool = False
    pii: dict[str, dict[str, str]] = Field(default_factory=dict)
    accepted: dict[str, dict[str, list[Any]]] = Field(default_factory=dict)


class SyncStep(BaseModel):
    model_config = ConfigDict(extra="forbid")

    targets: list[str] = Field(min_length=1)
    tables: list[str] | None = None


class Pipeline(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    cron: str = "0 6 * * *"
    retries: int = Field(3, ge=1, le=20)
    backoff_s: float = Field(30.0, ge=0)
    transform: bool = True
    extract: list[ExtractStep] = Field(default_factory=list)
    sync: SyncStep | None = None
    webhook: str | None = None
    webhook_format: Literal["hexlake", "slack"] = "hexlake"

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        from hexlake.ops.scheduler import validate_cron

        return validate_cron(value)

    def steps(self) -> list[str]:
        return ["extract"] * bool(self.extract) + ["transform"] * self.transform + ["sync"] * bool(self.sync)


def load_pipelines(data_dir: Path) -> dict[str, Pipeline]:
    """Every pipeline of ``<data_dir>/pipelines.toml`` (none without the file); ``ConfigError`` naming
    the pipeline and field when the file is invalid."""
    path = data_dir / FILE
    if not path.exists():
        return {}
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}", field="pipelines") from exc
    out = {}
    for name, body in dict(data.get("pipelines", {})).items():
        try:
            out[name] = Pipeline(name=name, **body)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ConfigError(f"pipeline {name!r} in {path}: {where}: {first['msg']}",
                              field=f"pipelines.{name}.{where}") from exc
        except ConfigError as exc:
            raise ConfigError(f"pipeline {name!r}: {exc.message}", field=f"pipelines.{name}.cron") from exc
    return out


__all__ = ["FILE", "ExtractStep", "Pipeline", "SyncStep", "load_pipelines"]
