"""User SQL still parses in a process that loaded SQLMesh (the server), whose IF parser is patched."""

from __future__ import annotations

import subprocess
import sys

CODE = """
import sqlmesh.core.dialect  # patches sqlglot's parser the way the server's transform does
from hexlake.warehouse.readonly import parse_query
print(parse_query("SELECT count(*) AS n FROM raw_events").kind)
"""


def test_query_parses_after_sqlmesh_is_imported() -> None:
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "select"
