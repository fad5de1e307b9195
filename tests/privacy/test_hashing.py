import hashlib
import hmac
from typing import Any

import pytest

from hexlake.privacy import Hasher, email_domain, mask

SECRET = b"k" * 32


def expected(value: object) -> str:
    return hmac.new(SECRET, str(value).encode(), hashlib.sha256).hexdigest()


def test_user_key_is_hex_hmac_sha256_of_the_string_form() -> None:
    hasher = Hasher(SECRET)
    assert hasher.user_key("user-1") == expected("user-1")
    assert hasher.user_key(12345) == expected("12345") == hasher.user_key("12345")


def test_memoised_key_equals_fresh_key_and_memo_is_bounded() -> None:
    hasher = Hasher(SECRET, memo_size=2)
    for value in ["a", "b", "c", "a", "b", "c"]:
        assert hasher.user_key(value) == expected(value)
    assert hasher.user_key.cache_info().currsize == 2


def test_int_and_float_ids_hash_their_own_strings() -> None:
    hasher = Hasher(SECRET)
    assert hasher.user_key(1) == expected("1")
    assert hasher.user_key(1.0) == expected("1.0")


def test_different_secrets_give_different_keys() -> None:
    assert Hasher(b"a" * 32).user_key("u") != Hasher(b"b" * 32).user_key("u")


def test_emails_are_normalised_before_hashing() -> None:
    hasher = Hasher(SECRET)
    assert hasher.hash_pii(" Jane@Example.COM ", email=True) == expected("jane@example.com")


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("jane.doe@example.com", "j***@example.com"),
        ("+1 415 555 0132", "***0132"),
        ("janedoe", "j***"),
        ("abc", "***"),
        (12345, "***"),
        (None, "***"),
    ],
)
def test_mask_keeps_only_a_non_identifying_shape(value: Any, masked: Any) -> None:
    assert mask(value) == masked


@pytest.mark.parametrize(
    ("value", "domain"),
    [("a@Gmail.com", "gmail.com"), ("no-at-sign", None), ("a@localhost", None), (7, None), ("@x.com", None)],
)
def test_email_domain(value: Any, domain: Any) -> None:
    assert email_domain(value) == domain
