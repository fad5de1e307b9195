"""Encryption at rest for what must be kept but not exposed (quarantined payloads).

AES-256-GCM (``cryptography``) with a key derived from the data dir's secret by HKDF-SHA256 and a
purpose label, so the HMAC key and the encryption key are never the same bytes. Each value gets a
fresh 96-bit nonce; the stored text is ``enc:v1:<base64(nonce || ciphertext+tag)>``. Tampering, or
the wrong secret, fails loudly instead of returning garbage.
"""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from hexlake.errors import ConfigError

PREFIX = "enc:v1:"


def derive_key(secret: bytes, purpose: str) -> bytes:
    """A 256-bit key for ``purpose`` from the data dir secret (HKDF-SHA256)."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=f"hexlake {purpose} v1".encode()).derive(secret)


class Sealer:
    """Seal and open short texts with AES-GCM; ``purpose`` separates keys (and binds the data)."""

    def __init__(self, secret: bytes, purpose: str):
        self._aead = AESGCM(derive_key(secret, purpose))
        self._aad = purpose.encode()

    def seal(self, text: str) -> str:
        nonce = os.urandom(12)
        blob = nonce + self._aead.encrypt(nonce, text.encode("utf-8"), self._aad)
        return PREFIX + base64.b64encode(blob).decode("ascii")

    def open(self, stored: str) -> str:
        """The plain text of a sealed value; a value stored before encryption is returned as is."""
        if not stored.startswith(PREFIX):
            return stored
        blob = base64.b64decode(stored[len(PREFIX):])
        try:
            return self._aead.decrypt(blob[:12], blob[12:], self._aad).decode("utf-8")
        except InvalidTag as exc:
            raise ConfigError("a sealed value does not match this data dir's secret (tampered, or another "
                              "secret.key); restore the secret it was written with") from exc


__all__ = ["PREFIX", "Sealer", "derive_key"]
