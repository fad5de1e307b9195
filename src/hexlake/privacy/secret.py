"""The HMAC secret created at ``hexlake init``: 32 random bytes in a file only its owner can read.

Every identifier hashed at the gate (user ids, anonymous ids, x-pii fields) is an HMAC with this
secret, so losing it means new hashes no longer join old ones; leaking it lets anyone who can guess
an identifier test for it. Hence mode 0600 and a refusal to overwrite.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from hexlake.errors import ConfigError, NotInitialised

SECRET_BYTES = 32


def create_secret(path: Path) -> bytes:
    """Create a new secret file at ``path`` (mode 0600); refuse if one already exists."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_bytes(SECRET_BYTES)
    try:
        # O_EXCL: never overwrite (a new secret would silently break every existing user_key).
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise ConfigError(
            f"a secret already exists at {path}; hexlake will not overwrite it "
            "(every stored user_key depends on it). Delete it by hand only if you mean to start over.",
            field="secret",
        ) from exc
    with os.fdopen(fd, "wb") as fh:
        fh.write(value)
        fh.flush()
        os.fsync(fh.fileno())
    os.chmod(path, 0o600)  # the umask may have narrowed it further; make it exact
    return value


def load_secret(path: Path) -> bytes:
    """Read the secret; ``NotInitialised`` if missing, ``ConfigError`` if readable by others."""
    path = Path(path)
    try:
        st = path.stat()
    except FileNotFoundError as exc:
        raise NotInitialised(
            f"no secret at {path}; run `hexlake init` to create the data dir first", field="secret"
        ) from exc
    if stat.S_IMODE(st.st_mode) & 0o077:
        raise ConfigError(
            f"the secret {path} has mode {stat.S_IMODE(st.st_mode):04o}; it must be readable by its "
            f"owner only: run `chmod 600 {path}`",
            field="secret",
        )
    value = path.read_bytes()
    if len(value) < 16:
        raise ConfigError(
            f"the secret {path} is too short ({len(value)} bytes); it is damaged", field="secret"
        )
    return value


__all__ = ["SECRET_BYTES", "create_secret", "load_secret"]
