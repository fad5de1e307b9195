"""`hexlake ml …` through the real CLI: errors are `Error: …` naming the field, with a non-zero exit."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import hexlake, init

pytestmark = pytest.mark.slow  # one CLI process per case (a few seconds each)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("mlcli") / "data"
    init(path)
    return path


@pytest.mark.parametrize("args, says", [
    (("ml", "train"), "no training set 'latest'"),
    (("ml", "train", "--dataset", "../../etc/passwd"), "field: name"),
    (("ml", "models", "promote", "v9"), "no model version 'v9'"),
    (("ml", "dataset", "--negatives", "0"), "field: negatives"),
])
def test_cli_errors_name_the_problem(data: Path, args: tuple[str, ...], says: str) -> None:
    proc = hexlake(data, *args, check=False)
    assert proc.returncode != 0
    assert "Error:" in proc.stderr + proc.stdout and says in proc.stderr + proc.stdout


def test_dataset_on_an_empty_data_dir_is_empty_not_an_error(data: Path) -> None:
    out = hexlake(data, "ml", "dataset", "--json").stdout
    assert '"rows": 0' in out
    assert hexlake(data, "ml", "models", "list", "--json").stdout.strip() == "[]"
