import os
import stat
from pathlib import Path

import pytest

from hexlake.errors import ConfigError, NotInitialised
from hexlake.privacy import create_secret, load_secret


def test_created_secret_is_32_bytes_readable_by_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "data" / "secret.key"
    value = create_secret(path)
    assert len(value) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_secret(path) == value


def test_two_secrets_differ(tmp_path: Path) -> None:
    assert create_secret(tmp_path / "a") != create_secret(tmp_path / "b")


def test_refuses_to_overwrite_an_existing_secret(tmp_path: Path) -> None:
    path = tmp_path / "secret.key"
    first = create_secret(path)
    with pytest.raises(ConfigError, match="will not overwrite"):
        create_secret(path)
    assert path.read_bytes() == first


def test_missing_secret_says_run_init(tmp_path: Path) -> None:
    with pytest.raises(NotInitialised, match="hexlake init"):
        load_secret(tmp_path / "nope.key")


def test_secret_readable_by_others_is_refused_with_chmod_hint(tmp_path: Path) -> None:
    path = tmp_path / "secret.key"
    create_secret(path)
    os.chmod(path, 0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        load_secret(path)
