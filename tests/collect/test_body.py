import gzip
import zlib

import orjson
import pytest

from hexlake.collect.body import decode_body
from hexlake.collect.config import CollectConfig
from hexlake.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType

LIMITS = CollectConfig(max_event_bytes=200, max_batch_events=3, max_request_bytes=2000)


def test_accepts_object_array_batch_wrapper_and_ndjson() -> None:
    one = decode_body(b'{"event_type": "a"}', "application/json", None, LIMITS)
    many = decode_body(b'[{"event_type": "a"}, {"event_type": "b"}]', "application/json", None, LIMITS)
    wrapped = decode_body(b'{"batch": [{"event_type": "a"}], "sent_at": "2024-01-01T00:00:00Z"}',
                          "application/json; charset=utf-8", None, LIMITS)
    nd = decode_body(b'{"event_type": "a"}\n\n{"event_type": "b"}\n', "application/x-ndjson", None, LIMITS)
    assert [len(b.items) for b in (one, many, wrapped, nd)] == [1, 2, 1, 2]
    assert wrapped.sent_at == "2024-01-01T00:00:00Z"


def test_gzip_body_is_decoded() -> None:
    raw = gzip.compress(orjson.dumps([{"event_type": "a"}]))
    assert decode_body(raw, "application/json", "gzip", LIMITS).items == [{"event_type": "a"}]


def test_gzip_bomb_is_refused_without_inflating_it_all() -> None:
    bomb = gzip.compress(b"[" + b" " * 10_000_000 + b"]")
    with pytest.raises(PayloadTooLarge):
        decode_body(bomb, "application/json", "gzip", LIMITS)


@pytest.mark.parametrize("raw", [b"{not json", b"", b'{"a": 1}\n{broken'])
def test_invalid_json_is_a_400_naming_the_body(raw: bytes) -> None:
    with pytest.raises(BadRequest) as exc:
        decode_body(raw, "application/json", None, LIMITS)
    assert exc.value.field == "body"


def test_too_many_events_is_413() -> None:
    with pytest.raises(PayloadTooLarge, match="limit is 3"):
        decode_body(orjson.dumps([{}] * 4), "application/json", None, LIMITS)


def test_single_oversize_event_is_413_but_in_a_batch_it_is_flagged() -> None:
    big = {"event_type": "a", "properties": {"x": "y" * 300}}
    with pytest.raises(PayloadTooLarge):
        decode_body(orjson.dumps(big), "application/json", None, LIMITS)
    body = decode_body(orjson.dumps([{"event_type": "a"}, big]), "application/json", None, LIMITS)
    assert list(body.oversize) == [1]


def test_unsupported_content_type_and_encoding_are_415() -> None:
    with pytest.raises(UnsupportedMediaType):
        decode_body(b"<xml/>", "application/xml", None, LIMITS)
    with pytest.raises(UnsupportedMediaType):
        decode_body(b"{}", "application/json", "br", LIMITS)


def test_request_over_byte_limit_is_413() -> None:
    with pytest.raises(PayloadTooLarge):
        decode_body(b" " * 2001, "application/json", None, LIMITS)


def test_native_body_refuses_a_form_body_and_inflates_deflate() -> None:
    with pytest.raises(UnsupportedMediaType):
        decode_body(b"data=eyJ9", "application/x-www-form-urlencoded", None, LIMITS)
    raw = zlib.compress(b'{"event_type": "a"}')
    assert decode_body(raw, "application/json", "deflate", LIMITS).items == [{"event_type": "a"}]
