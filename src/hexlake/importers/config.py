from pydantic import Field

from hexlake._configbase import Section


class ImportConfig(Section):
    """Archive imports (Google Takeout)."""

    max_archive_bytes: int = Field(50 * 1024**3, description="Archives larger than this are refused.")
    max_compression_ratio: float = Field(200.0, description="Members compressing better than this are refused.")
