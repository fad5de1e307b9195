"""The CLI starts fast: heavy libraries are imported by the commands that need them, not at start-up."""

import subprocess
import sys

HEAVY = ("sklearn", "scipy", "pandas", "sqlmesh", "psycopg", "redis", "duckdb", "pyarrow", "polars", "shapely")


def test_importing_the_cli_does_not_import_heavy_libraries() -> None:
    code = "import sys, hexlake.cli; print(' '.join(sorted(m for m in sys.modules if '.' not in m)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert not [m for m in HEAVY if m in out]
