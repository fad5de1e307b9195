from pydantic import Field

from hexlake._configbase import Section


class SpatialConfig(Section):
    """Places, nearby search, heatmaps, clustering."""

    max_radius_m: float = Field(50_000.0, description="Largest nearby radius accepted (400 above).")
