"""``hexlake transform`` commands, run as a user would (a subprocess on an initialised data dir)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from hexlake.config import Settings


def _hexlake(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SQLMESH__DISABLE_ANONYMIZED_ANALYTICS": "1"}
    return subprocess.run(
        [str(Path(sys.executable).parent / "hexlake"), "--data-dir", str(settings.data_dir), *args],
        capture_output=True, text=True, env=env, timeout=300, check=False)


def test_bad_execution_time_is_an_error_naming_the_option(settings: Settings) -> None:
    from hexlake.setup import initialise

    initialise(settings)
    bad = _hexlake(settings, "transform", "run", "--execution-time", "yesterday")
    assert bad.returncode == 1
    assert "Error: execution_time must be an ISO-8601" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_restate_refuses_a_bad_range_and_unknown_models_with_an_error(settings: Settings) -> None:
    from hexlake.setup import initialise

    initialise(settings)
    backwards = _hexlake(settings, "transform", "restate", "--from", "2026-01-05", "--to", "2026-01-01")
    assert backwards.returncode == 1 and "Error: to_day 2026-01-01 is before from_day" in backwards.stderr
    unknown = _hexlake(settings, "transform", "restate", "--from", "2026-01-01", "--to", "2026-01-01",
                       "--models", "marts.nope")
    assert unknown.returncode == 1 and "no incremental model named marts.nope" in unknown.stderr
    assert "Traceback" not in backwards.stderr + unknown.stderr


def test_run_offers_the_tiers_and_refuses_others(settings: Settings) -> None:
    bad = _hexlake(settings, "transform", "run", "--tier", "hourly")
    assert bad.returncode == 2 and "'all', 'fresh', 'asof'" in bad.stderr
