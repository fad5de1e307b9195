"""Warehouse engines: ``duckdb`` (embedded file) and ``postgres`` (scale-out).

Each module implements ``hexlake.warehouse.protocol.Warehouse``; ``hexlake.warehouse.open_warehouse``
picks one from the URL's scheme and imports only that one (so embedded mode never loads psycopg).
"""
