"""Archives are inspected completely and refused with a clear message before anything is written."""

from __future__ import annotations

import os
import stat
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from hexlake.errors import ImportRefused
from hexlake.importers.archive import inspect_source, iter_members
from hexlake.importers.config import ImportConfig
from tests.importers import fixtures as fx

CFG = ImportConfig()


@pytest.mark.parametrize("writer", [fx.write_zip, fx.write_tgz])
def test_archive_lists_parseable_members_with_sha256(
    tmp_path: Path, writer: Callable[[Path, dict[str, bytes]], Path]
) -> None:
    path = writer(tmp_path / ("t.zip" if writer is fx.write_zip else "t.tgz"), fx.takeout_files())
    insp = inspect_source(path, CFG)
    assert len(insp.members) == 7
    assert insp.ignored == 1  # the html report
    assert insp.sha256 is not None and len(insp.sha256) == 64
    names = {m.format.name for m in insp.members}
    assert names == {
        "records",
        "semantic",
        "timeline",
        "my_activity",
        "watch_history",
        "browser_history",
        "mbox",
    }
    contents = {m.path: f.read() for m, f in iter_members(insp, {m.path for m in insp.members})}
    assert contents["Takeout/Chrome/BrowserHistory.json"] == fx.browser_history_json()


def test_folder_is_walked_in_stable_order(tmp_path: Path) -> None:
    root = fx.write_dir(tmp_path / "export", fx.takeout_files())
    insp = inspect_source(root, CFG)
    assert insp.kind == "dir" and insp.sha256 is None
    assert [m.path for m in insp.members] == sorted(m.path for m in insp.members)


@pytest.mark.parametrize(
    "name", ["../evil/Records.json", "/etc/Records.json", "C:/x/Records.json", "Takeout/../../Records.json"]
)
def test_zip_slip_paths_are_refused(tmp_path: Path, name: str) -> None:
    path = fx.write_zip(tmp_path / "slip.zip", {"Takeout/ok.html": b"x", name: b"{}"})
    with pytest.raises(ImportRefused, match="zip-slip") as err:
        inspect_source(path, CFG)
    assert err.value.field == name


def test_tar_with_parent_path_is_refused(tmp_path: Path) -> None:
    path = fx.write_tgz(tmp_path / "slip.tgz", {"../../Records.json": b"{}"})
    with pytest.raises(ImportRefused, match="zip-slip"):
        inspect_source(path, CFG)


def test_symlink_in_zip_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "link.zip"
    with zipfile.ZipFile(path, "w") as zf:
        info = zipfile.ZipInfo("Takeout/Location History/Records.json")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(ImportRefused, match="symbolic link"):
        inspect_source(path, CFG)


def test_symlink_in_tar_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "link.tgz"
    with tarfile.open(path, "w:gz") as tf:
        info = tarfile.TarInfo("Takeout/Records.json")
        info.type = tarfile.SYMTYPE
        info.linkname = "/etc/passwd"
        tf.addfile(info)
    with pytest.raises(ImportRefused, match="is a link"):
        inspect_source(path, CFG)


def test_symlink_in_folder_is_refused(tmp_path: Path) -> None:
    root = fx.write_dir(tmp_path / "export", {"Takeout/Chrome/BrowserHistory.json": b"{}"})
    os.symlink("/etc/passwd", root / "Takeout" / "Records.json")
    with pytest.raises(ImportRefused, match="symbolic link"):
        inspect_source(root, CFG)


def test_zip_bomb_ratio_is_refused(tmp_path: Path) -> None:
    path = fx.write_zip(tmp_path / "bomb.zip", {"Takeout/Location History/Records.json": b"0" * (20 * 1024**2)})
    with pytest.raises(ImportRefused, match="zip bomb"):
        inspect_source(path, CFG)


def test_tgz_bomb_ratio_is_refused_from_headers(tmp_path: Path) -> None:
    path = fx.write_tgz(tmp_path / "bomb.tgz", {"Takeout/blob.bin": b"\0" * (30 * 1024**2)})
    with pytest.raises(ImportRefused, match="zip bomb"):
        inspect_source(path, CFG)


def test_uncompressed_total_above_limit_is_refused(tmp_path: Path) -> None:
    path = fx.write_zip(tmp_path / "big.zip", fx.takeout_files())
    with pytest.raises(ImportRefused, match="max_uncompressed_bytes"):
        inspect_source(path, ImportConfig(max_uncompressed_bytes=1000))


def test_archive_above_size_limit_is_refused(tmp_path: Path) -> None:
    path = fx.write_zip(tmp_path / "big.zip", fx.takeout_files())
    with pytest.raises(ImportRefused, match="max_archive_bytes"):
        inspect_source(path, ImportConfig(max_archive_bytes=100))


def test_wrong_magic_bytes_for_archive_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "takeout.zip"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 100)
    with pytest.raises(ImportRefused, match="not a zip") as err:
        inspect_source(path, CFG)
    assert "Nothing was imported" in err.value.message


def test_extension_that_lies_about_the_content_is_refused(tmp_path: Path) -> None:
    path = fx.write_tgz(tmp_path / "takeout.zip", fx.takeout_files())
    with pytest.raises(ImportRefused, match="named like a zip"):
        inspect_source(path, CFG)


def test_member_with_wrong_magic_bytes_is_refused(tmp_path: Path) -> None:
    files = {"Takeout/Location History/Records.json": b"\x89PNG\r\n\x1a\n rest"}
    path = fx.write_zip(tmp_path / "t.zip", files)
    with pytest.raises(ImportRefused, match="wrong type or magic bytes"):
        inspect_source(path, CFG)


def test_empty_member_is_accepted(tmp_path: Path) -> None:
    path = fx.write_zip(tmp_path / "t.zip", {"Takeout/Location History/Records.json": b""})
    assert inspect_source(path, CFG).members[0].size == 0


def test_missing_path_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ImportRefused, match="does not exist"):
        inspect_source(tmp_path / "nope.zip", CFG)


def test_corrupt_zip_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.zip"
    path.write_bytes(b"PK\x03\x04" + b"garbage" * 10)
    with pytest.raises(ImportRefused, match="not a readable zip"):
        inspect_source(path, CFG)


def test_tar_hash_covers_whole_file(tmp_path: Path) -> None:
    import hashlib

    path = fx.write_tgz(tmp_path / "t.tgz", fx.takeout_files())
    assert inspect_source(path, CFG).sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
