"""File modes of the data dir: directories 0700, files 0600, and a secret nobody else can read.

Everything in the data dir is personal or secret (events, keys' digests, the HMAC secret, the server's
admin token, uploaded archives), so hexlake sets a umask of 0o077 before it creates anything and
tightens what already exists when the server starts. ``hexlake doctor`` reports loose modes and
``hexlake doctor --fix`` tightens them; the server refuses to start with a secret others can read.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import msgspec

PRIVATE_UMASK = 0o077
DIR_MODE = 0o700
FILE_MODE = 0o600


class ModeProblem(msgspec.Struct, frozen=True):
    """A path whose group or other bits are set."""

    path: str
    mode: str
    expected: str


def secure_umask() -> None:
    """Files and directories this process creates from now on are its owner's only."""
    os.umask(PRIVATE_UMASK)


def _walk(root: Path) -> Iterator[tuple[Path, os.stat_result]]:
    """Every directory and regular file under ``root`` (symlinks not followed), root included."""
    if not root.exists():
        return
    yield root, root.lstat()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in [*dirnames, *filenames]:
            path = Path(dirpath) / name
            try:
                st = path.lstat()
            except FileNotFoundError:  # a WAL file may vanish while we look
                continue
            if stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode):
                yield path, st


def mode_problems(root: Path) -> list[ModeProblem]:
    """Directories and files under ``root`` that others (group or world) could read or enter."""
    problems = []
    for path, st in _walk(root):
        mode = stat.S_IMODE(st.st_mode)
        if mode & 0o077:
            expected = DIR_MODE if stat.S_ISDIR(st.st_mode) else FILE_MODE
            problems.append(ModeProblem(path=str(path), mode=f"{mode:04o}", expected=f"{expected:04o}"))
    return problems


def fix_modes(root: Path) -> list[ModeProblem]:
    """Remove group and other bits from everything under ``root``; return what was changed."""
    fixed = mode_problems(root)
    for problem in fixed:
        path = Path(problem.path)
        try:
            current = stat.S_IMODE(path.lstat().st_mode)
            os.chmod(path, current & 0o700)  # only dirs and regular files: never a symlink
        except FileNotFoundError:
            continue
    return fixed


def tighten_except_secret(root: Path, secret: Path) -> None:
    """At server start: tighten every mode except the secret's (a loose secret is refused, not fixed,
    because it may already have leaked: the operator must know)."""
    for problem in mode_problems(root):
        path = Path(problem.path)
        if path != secret:
            try:
                os.chmod(path, stat.S_IMODE(path.lstat().st_mode) & 0o700)
            except FileNotFoundError:
                continue


__all__ = ["DIR_MODE", "FILE_MODE", "PRIVATE_UMASK", "ModeProblem", "fix_modes", "mode_problems",
           "secure_umask", "tighten_except_secret"]
