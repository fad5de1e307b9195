"""Opening a Takeout export safely: a .zip, a .tgz/.tar or an extracted folder.

``inspect_source`` reads the whole archive once (SHA-256, entry list, first bytes of every file
hexlake will parse) and raises ``ImportRefused`` for zip-slip paths, links, absurd sizes or
compression ratios (zip bombs) and wrong magic bytes — before a single event is written. Nothing is
ever extracted to disk: members are streamed straight from the archive into the parsers.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, BinaryIO

from hexlake.errors import ImportRefused
from hexlake.importers.config import ImportConfig
from hexlake.importers.formats import Format, classify, magic_ok
from hexlake.importers.streams import Readable

_HEAD = 64
_READ = 1024 * 1024
_DRIVE = re.compile(r"^[a-zA-Z]:")
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class Member:
    """A file hexlake will parse: its path in the archive, uncompressed size and format."""

    path: str
    size: int
    format: Format


@dataclass
class Inspection:
    """What ``inspect_source`` found: kind (zip|tgz|tar|dir), hash, size, and parseable members."""

    path: Path
    kind: str
    sha256: str | None
    size: int
    members: list[Member] = field(default_factory=list)
    ignored: int = 0

    @property
    def total_bytes(self) -> int:
        return sum(m.size for m in self.members)


def _refuse(message: str, member: str | None = None) -> ImportRefused:
    return ImportRefused(message + " Nothing was imported.", field=member)


def check_member_path(name: str) -> str:
    """The normalised path of an archive entry, or refuse it (absolute, ``..``, drive letters)."""
    norm = name.replace("\\", "/")
    parts = [p for p in norm.split("/") if p not in ("", ".")]
    if norm.startswith("/") or _DRIVE.match(norm) or ".." in parts:
        raise _refuse(f"Archive entry {name!r} points outside the archive (zip-slip).", name)
    return "/".join(parts)


def sniff_kind(path: Path) -> str:
    """Archive kind from its magic bytes; the file name must not claim another type."""
    with path.open("rb") as f:
        head = f.read(512)
    name = path.name.lower()
    if head.startswith(ZIP_MAGIC):
        kind = "zip"
    elif head.startswith(GZIP_MAGIC):
        kind = "tgz"
    elif len(head) >= 262 and head[257:262] == b"ustar":
        kind = "tar"
    else:
        raise _refuse(
            f"{path.name} is not a zip, tar.gz or tar archive (its first bytes are {head[:8]!r}). "
            "Pass the Takeout .zip/.tgz file or the extracted folder."
        )
    claimed = {".zip": "zip", ".tgz": "tgz", ".gz": "tgz", ".tar": "tar"}.get(Path(name).suffix)
    if claimed is not None and claimed != kind:
        raise _refuse(f"{path.name} is named like a {claimed} archive but its content is {kind}.")
    return kind


class _Limits:
    """Running totals checked against ``ImportConfig`` while entries are listed."""

    def __init__(self, config: ImportConfig, archive_size: int):
        self.config = config
        self.archive_size = max(archive_size, 1)
        self.total = 0
        self.count = 0

    def add(self, name: str, size: int, compressed: int | None) -> None:
        c = self.config
        self.count += 1
        self.total += size
        if self.count > c.max_members:
            raise _refuse(f"The archive has more than {c.max_members} entries (importers.max_members).")
        if self.total > c.max_uncompressed_bytes:
            raise _refuse(
                f"The archive expands to more than {c.max_uncompressed_bytes} bytes "
                "(importers.max_uncompressed_bytes): refused as a possible zip bomb.",
                name,
            )
        ratio_of = compressed if compressed is not None else self.archive_size
        grown = size if compressed is not None else self.total
        if grown >= c.ratio_min_bytes and grown / max(ratio_of, 1) > c.max_compression_ratio:
            raise _refuse(
                f"Entry {name!r} compresses {grown / max(ratio_of, 1):.0f}:1, above "
                f"importers.max_compression_ratio ({c.max_compression_ratio:.0f}): refused as a zip bomb.",
                name,
            )


def _check_head(fmt: Format, name: str, head: bytes) -> None:
    if not magic_ok(fmt, head):
        raise _refuse(
            f"{name} should be {fmt.name} data but starts with {head[:16]!r} (wrong type or magic bytes).",
            name,
        )


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_READ):
            h.update(chunk)
    return h.hexdigest()


def _inspect_zip(path: Path, config: ImportConfig, result: Inspection) -> None:
    limits = _Limits(config, result.size)
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise _refuse(f"{path.name} is not a readable zip archive: {exc}.") from exc
    with zf:
        for info in zf.infolist():
            name = check_member_path(info.filename)
            if stat.S_ISLNK(info.external_attr >> 16):
                raise _refuse(f"Archive entry {info.filename!r} is a symbolic link.", info.filename)
            limits.add(info.filename, info.file_size, info.compress_size)
            fmt = classify(name) if not info.is_dir() else None
            if fmt is None:
                result.ignored += 0 if info.is_dir() else 1
                continue
            if info.flag_bits & 0x1:
                raise _refuse(f"Archive entry {info.filename!r} is encrypted.", info.filename)
            with zf.open(info) as f:
                _check_head(fmt, name, f.read(_HEAD))
            result.members.append(Member(name, info.file_size, fmt))
    result.sha256 = _sha256_file(path)


class _HashingReader:
    def __init__(self, raw: BinaryIO):
        self.raw = raw
        self.sha = hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        self.sha.update(data)
        return data


def _tar_check(info: tarfile.TarInfo) -> str:
    name = check_member_path(info.name)
    if info.issym() or info.islnk():
        raise _refuse(f"Archive entry {info.name!r} is a link ({info.linkname!r}).", info.name)
    if not (info.isfile() or info.isdir()):
        raise _refuse(f"Archive entry {info.name!r} is a device, fifo or other special file.", info.name)
    return name


def _inspect_tar(path: Path, config: ImportConfig, result: Inspection) -> None:
    limits = _Limits(config, result.size)
    with path.open("rb") as raw:
        reader = _HashingReader(raw)
        mode = "r|gz" if result.kind == "tgz" else "r|"
        try:
            with tarfile.open(fileobj=reader, mode=mode) as tf:  # type: ignore[call-overload]
                for info in tf:
                    name = _tar_check(info)
                    # Sizes come from the header, before the member's data is decompressed.
                    limits.add(info.name, info.size, None)
                    fmt = classify(name) if info.isfile() else None
                    if fmt is None:
                        result.ignored += int(info.isfile())
                        continue
                    f = tf.extractfile(info)
                    _check_head(fmt, name, f.read(_HEAD) if f is not None else b"")
                    result.members.append(Member(name, info.size, fmt))
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise _refuse(f"{path.name} is not a readable tar archive: {exc}.") from exc
        while reader.read(_READ):  # hash any trailing bytes tarfile did not need
            pass
    result.sha256 = reader.sha.hexdigest()


def _inspect_dir(path: Path, config: ImportConfig, result: Inspection) -> None:
    limits = _Limits(config, 0)
    for root, dirs, files in os.walk(path, followlinks=False):
        dirs.sort()
        for entry in [*dirs, *sorted(files)]:
            full = Path(root) / entry
            rel = full.relative_to(path).as_posix()
            if full.is_symlink():
                raise _refuse(f"{rel!r} in the export folder is a symbolic link.", rel)
            if entry in dirs:
                continue
            size = full.stat().st_size
            limits.add(rel, size, size)
            fmt = classify(rel)
            if fmt is None:
                result.ignored += 1
                continue
            with full.open("rb") as f:
                _check_head(fmt, rel, f.read(_HEAD))
            result.members.append(Member(rel, size, fmt))
    result.members.sort(key=lambda m: m.path)


def inspect_source(path: Path, config: ImportConfig) -> Inspection:
    """Check ``path`` completely and list what will be parsed, or raise ``ImportRefused``."""
    if not path.exists():
        raise ImportRefused(f"{path} does not exist.", field="path")
    if path.is_symlink():
        raise _refuse(f"{path} is a symbolic link; pass the archive itself.")
    if path.is_dir():
        result = Inspection(path, "dir", None, 0)
        _inspect_dir(path, config, result)
        return result
    size = path.stat().st_size
    if size > config.max_archive_bytes:
        raise _refuse(f"{path.name} is {size} bytes, above importers.max_archive_bytes ({config.max_archive_bytes}).")
    result = Inspection(path, sniff_kind(path), None, size)
    (_inspect_zip if result.kind == "zip" else _inspect_tar)(path, config, result)
    return result


def iter_members(inspection: Inspection, wanted: set[str]) -> Iterator[tuple[Member, IO[bytes]]]:
    """Open the ``wanted`` members one at a time, in archive order (tar can only stream forward).

    Each yielded stream is valid until the next item is requested.
    """
    by_path = {m.path: m for m in inspection.members if m.path in wanted}
    if inspection.kind == "dir":
        for m in inspection.members:
            if m.path in by_path:
                with (inspection.path / m.path).open("rb") as fh:
                    yield m, fh
    elif inspection.kind == "zip":
        with zipfile.ZipFile(inspection.path) as zf:
            infos = {check_member_path(i.filename): i for i in zf.infolist()}
            for m in inspection.members:
                if m.path in by_path:
                    with zf.open(infos[m.path]) as f:
                        yield m, f
    else:
        mode = "r|gz" if inspection.kind == "tgz" else "r|"
        with tarfile.open(inspection.path, mode=mode) as tf:  # type: ignore[call-overload]
            for info in tf:
                found = by_path.get(check_member_path(info.name)) if info.isfile() else None
                stream = tf.extractfile(info) if found is not None else None
                if found is not None and stream is not None:
                    yield found, stream


__all__ = [
    "Inspection",
    "Member",
    "Readable",
    "check_member_path",
    "inspect_source",
    "iter_members",
    "sniff_kind",
]
