"""Extraction from operational databases (seed 004): ``raw_<source>_<table>`` tables in the warehouse.

``extract_tables(source_url, warehouse, tables, ...)`` lands rows append-only, partitioned by
``extracted_date``, incrementally by a cursor column with a stored high-water mark, detects schema
drift and hashes PII columns (per-table policy) before anything is written. Exports load lazily.
"""

from typing import TYPE_CHECKING

from hexlake._lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "PiiPolicy": "policy",
    **dict.fromkeys(["ExtractOptions", "TableResult", "extract_tables"], "runner"),
    **dict.fromkeys(["Column", "open_source"], "sources"),
})

if TYPE_CHECKING:
    from hexlake.extract.policy import PiiPolicy
    from hexlake.extract.runner import ExtractOptions, TableResult, extract_tables
    from hexlake.extract.sources import Column, open_source

__all__ = ["Column", "ExtractOptions", "PiiPolicy", "TableResult", "extract_tables", "open_source"]
