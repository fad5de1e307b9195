"""Extraction from operational databases (seed 004): ``raw_<source>_<table>`` tables in the warehouse.

``extract_tables(source_url, warehouse, tables, ...)`` lands rows append-only, partitioned by
``extracted_date``, incrementally by a cursor column with a stored high-water mark, detects schema
drift and hashes PII columns (per-table policy) before anything is written.
"""

from hexlake.extract.policy import PiiPolicy
from hexlake.extract.runner import ExtractOptions, TableResult, extract_tables
from hexlake.extract.sources import Column, open_source

__all__ = ["Column", "ExtractOptions", "PiiPolicy", "TableResult", "extract_tables", "open_source"]
