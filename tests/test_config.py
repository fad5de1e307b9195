"""Settings come from HEXLAKE_* variables and hexlake.toml; unknown keys are errors."""

from pathlib import Path

import pytest
from pydantic import ValidationError
from pytest import MonkeyPatch

from hexlake.config import load_settings


def test_toml_file_then_environment_wins(tmp_path: Path, monkeypatch: MonkeyPatch) -> None:
    toml = tmp_path / "hexlake.toml"
    toml.write_text('data_dir = "/srv/hexlake"\n[collect]\nmax_batch_events = 100\nmax_event_bytes = 1000\n')
    monkeypatch.setenv("HEXLAKE_CONFIG", str(toml))
    monkeypatch.setenv("HEXLAKE_COLLECT__MAX_BATCH_EVENTS", "42")
    s = load_settings()
    assert str(s.data_dir) == "/srv/hexlake"
    assert s.collect.max_batch_events == 42 and s.collect.max_event_bytes == 1000


def test_embedded_defaults_live_in_the_data_dir(tmp_path: Path, monkeypatch: MonkeyPatch) -> None:
    monkeypatch.setenv("HEXLAKE_DATA_DIR", str(tmp_path))
    s = load_settings()
    assert s.resolved_log_url() == f"sqlite:///{tmp_path}/log.sqlite"
    assert s.resolved_warehouse_url() == f"duckdb:///{tmp_path}/warehouse.duckdb"


def test_unknown_setting_is_an_error(tmp_path: Path, monkeypatch: MonkeyPatch) -> None:
    toml = tmp_path / "hexlake.toml"
    toml.write_text("[collect]\nmax_batch_event = 1\n")
    monkeypatch.setenv("HEXLAKE_CONFIG", str(toml))
    with pytest.raises(ValidationError, match="max_batch_event"):
        load_settings()
