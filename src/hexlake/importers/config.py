from pydantic import Field

from hexlake._configbase import Section


class ImportConfig(Section):
    """Archive imports (Google Takeout)."""

    max_archive_bytes: int = Field(50 * 1024**3, description="Archives larger than this are refused.")
    max_compression_ratio: float = Field(
        200.0, description="Members compressing better than this are refused (zip bombs)."
    )
    max_uncompressed_bytes: int = Field(
        200 * 1024**3, description="Archives expanding to more than this (all members) are refused."
    )
    max_members: int = Field(200_000, description="Archives with more entries than this are refused.")
    ratio_min_bytes: int = Field(
        1024**2, description="Members smaller than this (uncompressed) are exempt from the ratio check."
    )
    batch_size: int = Field(1_000, description="Records handed to the gate per `ingest` call (one checkpoint each).")
    max_body_bytes: int = Field(
        64 * 1024, description="With --include-bodies, at most this many bytes of a mail body are kept."
    )
    upload_chunk_max_bytes: int = Field(64 * 1024**2, description="Largest accepted upload chunk.")
    upload_chunk_min_bytes: int = Field(
        1024**2, ge=1, description="Smallest chunk size an upload may declare (unless the file is smaller).")
    upload_max_chunks: int = Field(10_000, ge=1, description="Most chunks one upload may be cut into.")
    upload_max_bytes: int = Field(50 * 1024**3, description="Largest accepted upload (declared size).")
