"""The SQLMesh unit tests shipped in the project (YAML input rows -> expected rows) pass."""

from __future__ import annotations

from hexlake.config import Settings
from hexlake.transform.engine import PROJECT_DIR, TransformEngine


def test_project_unit_tests_pass(settings: Settings) -> None:
    engine = TransformEngine(settings)
    try:
        ran, failures = engine.test()
    finally:
        engine.close()
    assert failures == []
    assert ran == len(list((PROJECT_DIR / "tests").glob("*.yaml")))
