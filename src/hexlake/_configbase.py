"""Base class for the per-stage configuration sections (strict: unknown keys are errors)."""

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """A nested settings section, filled from ``HEXLAKE_<SECTION>__<FIELD>`` or ``hexlake.toml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
