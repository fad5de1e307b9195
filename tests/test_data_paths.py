"""``DataPaths`` names every file of a data dir: no module builds one from the root by hand."""

from __future__ import annotations

import re
from pathlib import Path

from hexlake.config import DataPaths

SRC = Path(__file__).resolve().parents[1] / "src" / "hexlake"
#: ``<data dir> / "name"`` spelled out: settings.data_dir / "x", paths.root / "x", rt.paths.root / "x".
AD_HOC = re.compile(r"""(\bdata_dir|\bpaths\.root)\s*/\s*f?["']""")


def ad_hoc_paths(root: Path) -> list[str]:
    return [f"{path.relative_to(root)}:{n}" for path in sorted(root.rglob("*.py")) if path.name != "config.py"
            for n, line in enumerate(path.read_text().splitlines(), start=1) if AD_HOC.search(line)]


def test_no_module_builds_a_data_dir_path_by_hand() -> None:
    assert ad_hoc_paths(SRC) == []


def test_the_check_sees_a_hand_built_path(tmp_path: Path) -> None:
    (tmp_path / "stage.py").write_text('db = runtime.paths.root / "mine.sqlite"\nx = settings.data_dir / f"{n}.db"\n')
    assert ad_hoc_paths(tmp_path) == ["stage.py:1", "stage.py:2"]


def test_every_named_file_is_inside_the_data_dir(tmp_path: Path) -> None:
    paths = DataPaths(tmp_path)
    names = [n for n in dir(DataPaths) if isinstance(getattr(DataPaths, n), property)]
    assert {"imports_db", "stream_db", "stream_groups", "places_db", "sqlmesh_cache", "catalog_db"} <= set(names)
    files = [getattr(paths, n) for n in names]
    assert all(f.parent == tmp_path for f in files)
    assert len(set(files)) == len(files)  # no two names for one file
