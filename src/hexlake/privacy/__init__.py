"""Privacy primitives: the HMAC secret, keyed hashing and masking of identifiers."""

from hexlake.privacy.hashing import Hasher, email_domain, mask
from hexlake.privacy.secret import create_secret, load_secret

__all__ = ["Hasher", "create_secret", "email_domain", "load_secret", "mask"]
