"""Parsers turn real-shaped Takeout files into native-shape records (UTC, E7 wrap, edge cases)."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterable

import ijson
import pytest

from hexlake.importers.formats import RECORDS, classify
from hexlake.importers.formats._common import ParseOptions, e7, parse_latlng, to_epoch_ms
from hexlake.importers.formats.activity import parse_browser_history, parse_my_activity, parse_watch_history
from hexlake.importers.formats.location import parse_records, parse_semantic, parse_timeline
from hexlake.importers.formats.mbox import parse_mbox
from hexlake.importers.streams import Utf8Repair
from tests.importers import fixtures as fx

OPTS = ParseOptions()


def kind(path: str) -> str | None:
    """The name of the format ``classify`` picks for ``path``, or None."""
    found = classify(path)
    return found.name if found is not None else None


def _parse(parser: Callable[..., Iterable[dict]], data: bytes, opts: ParseOptions = OPTS) -> list[dict]:
    return list(parser(Utf8Repair(io.BytesIO(data)), opts))


def test_records_json_ms_timestamps_become_utc_iso_and_e7_degrees() -> None:
    recs = _parse(parse_records, fx.records_json(3))
    assert len(recs) == 3
    first = recs[0]
    assert first["event_type"] == "location_record"
    assert first["timestamp"] == "2017-07-14T02:40:00.000Z"
    assert first["properties"]["recorded_at"] == "2017-07-14T02:40:00.000Z"
    assert first["properties"]["location"] == {"lat": 50.64, "lng": 3.05, "accuracy": 10}
    assert first["properties"]["activity"] == "STILL"
    assert first["properties"]["source"] == "WIFI"


def test_records_json_iso_timestamp_with_and_without_zone_is_normalised_to_utc() -> None:
    doc = {
        "locations": [
            {"latitudeE7": 1, "longitudeE7": 2, "timestamp": "2022-01-12T17:18:24.190Z"},
            {"latitudeE7": 1, "longitudeE7": 2, "timestamp": "2022-01-12T18:18:24.190+01:00"},
            {"latitudeE7": 1, "longitudeE7": 2, "timestamp": "2022-01-12T17:18:24.190"},
            {"latitudeE7": 1, "longitudeE7": 2, "timestampMs": "1642007904190"},
        ]
    }
    times = [r["timestamp"] for r in _parse(parse_records, json.dumps(doc).encode())]
    assert times == ["2022-01-12T17:18:24.190Z"] * 4


def test_e7_values_past_2_pow_31_wrap_to_negative_degrees() -> None:
    # -33.86 and 151.2 written as unsigned 32-bit integers by old exports
    lat_wrapped = 2**32 - 338600000
    assert e7(lat_wrapped) == pytest.approx(-33.86)
    doc = {
        "locations": [{"latitudeE7": lat_wrapped, "longitudeE7": 2**32 - 1512000000, "timestampMs": "1500000000000"}]
    }
    loc = _parse(parse_records, json.dumps(doc).encode())[0]["properties"]["location"]
    assert loc["lat"] == pytest.approx(-33.86)
    assert loc["lng"] == pytest.approx(-151.2)


def test_missing_fields_are_kept_out_so_the_gate_can_quarantine_them() -> None:
    doc = {"locations": [{"timestampMs": "1500000000000"}, {"latitudeE7": 1, "longitudeE7": 2}]}
    no_coords, no_time = _parse(parse_records, json.dumps(doc).encode())
    assert "location" not in no_coords["properties"]
    assert "timestamp" not in no_time and "recorded_at" not in no_time["properties"]


def test_truncated_json_yields_the_complete_records_then_raises() -> None:
    data = fx.records_json(5)
    cut = data[: data.rindex(b"{") + 10]  # inside the last record
    out = []
    with pytest.raises(ijson.IncompleteJSONError):
        for rec in parse_records(Utf8Repair(io.BytesIO(cut)), OPTS):
            out.append(rec)
    assert len(out) == 4


def test_non_utf8_bytes_are_replaced_and_reported_not_fatal() -> None:
    data = (
        b'\xef\xbb\xbf{"locations": [{"latitudeE7": 1, "longitudeE7": 2, "timestampMs": "1", '
        b'"source": "caf\xe9"},'
        b'{"latitudeE7": 3, "longitudeE7": 4, "timestampMs": "2"}]}'
    )
    stream = Utf8Repair(io.BytesIO(data))
    recs = list(parse_records(stream, OPTS))
    assert [r["properties"]["source"] for r in recs[:1]] == ["caf\ufffd"]
    assert len(recs) == 2
    assert stream.invalid_bytes


def test_utf8_split_across_chunks_is_preserved() -> None:
    text = ('{"locations": [{"source": "' + "é" * 200_000 + '", "timestampMs": "1"}]}').encode()
    stream = Utf8Repair(io.BytesIO(text))
    recs = list(parse_records(stream, OPTS))
    assert recs[0]["properties"]["source"] == "é" * 200_000
    assert not stream.invalid_bytes


def test_semantic_location_history_visits_and_segments() -> None:
    recs = _parse(parse_semantic, fx.semantic_json(1))
    visit, seg = recs
    assert visit["event_type"] == "place_visit"
    assert visit["properties"]["place_id"] == "P0"
    assert visit["properties"]["duration_s"] == 1800
    assert visit["properties"]["location"] == {"lat": 50.64, "lng": 3.05}
    assert seg["event_type"] == "activity_segment"
    assert seg["properties"]["activity_type"] == "WALKING"
    assert seg["properties"]["end_location"] == {"lat": 50.65, "lng": 3.06}
    assert seg["timestamp"] == "2017-07-14T03:10:00.000Z"


def test_timeline_json_degree_strings_and_raw_signals() -> None:
    recs = _parse(parse_timeline, fx.timeline_json())
    types = [r["event_type"] for r in recs]
    assert types == [
        "place_visit",
        "activity_segment",
        "location_record",
        "location_record",
        "location_record",
    ]
    assert recs[0]["properties"]["location"] == {"lat": 50.64, "lng": 3.05}
    assert recs[0]["timestamp"] == "2024-03-01T07:00:00.000Z"  # +01:00 normalised to UTC
    assert recs[3]["properties"]["location"] == {"lat": -33.86, "lng": 151.2}
    assert recs[4]["properties"]["location"]["accuracy"] == 13


def test_parse_latlng_variants() -> None:
    assert parse_latlng("50.64°, 3.05°") == (50.64, 3.05)
    assert parse_latlng("geo:-1.5,2") == (-1.5, 2.0)
    assert parse_latlng("nonsense") is None


def test_my_activity_searches_app_activity_and_watches() -> None:
    search, maps, watch = _parse(parse_my_activity, fx.my_activity_json())
    assert search["event_type"] == "search_activity"
    assert search["properties"]["query"] == "hexlake data"
    assert search["properties"]["url_domain"] == "google.com"
    assert maps["event_type"] == "app_activity" and maps["properties"]["product"] == "Maps"
    assert watch["event_type"] == "youtube_watch" and watch["properties"]["video_id"] == "abc123"


def test_youtube_watch_history_and_ads() -> None:
    cats, ad = _parse(parse_watch_history, fx.watch_history_json())
    assert cats["properties"] == {
        "action": "watched",
        "title": "Cats compilation",
        "video_id": "cat42",
        "channel": "Cats",
        "recorded_at": "2023-06-01T10:00:00.500Z",
    }
    assert ad["properties"]["is_ad"] is True


def test_chrome_browser_history_microseconds() -> None:
    first, _ = _parse(parse_browser_history, fx.browser_history_json())
    assert first["event_type"] == "browser_visit"
    assert first["timestamp"] == "2023-11-14T22:13:20.123Z"
    assert first["properties"]["domain"] == "example.org"
    assert "client_id" not in first["properties"]


def test_mbox_headers_only_by_default() -> None:
    recs = _parse(parse_mbox, fx.mbox_bytes(2))
    assert len(recs) == 2
    props = recs[0]["properties"]
    assert recs[0]["timestamp"] == "2024-01-01T08:00:00.000Z"
    assert props["sender_domain"] == "example.com"
    assert props["labels"] == ["Inbox", "Important", "Opened"]
    assert props["thread_id"] == "170000000000000"
    assert "body" not in props and "subject" not in props
    assert "Secret" not in json.dumps(recs)


def test_mbox_bodies_only_when_asked_and_capped() -> None:
    opts = ParseOptions(include_bodies=True, max_body_bytes=8)
    recs = _parse(parse_mbox, fx.mbox_bytes(1, body=b"0123456789abcdef\n"), opts)
    assert recs[0]["properties"]["subject"] == "Secret plans 0"
    assert recs[0]["properties"]["body"] == "01234567"


def test_mbox_with_non_utf8_header_and_huge_line_stays_parseable() -> None:
    body = b"x" * (3 * 1024 * 1024) + b"\n"
    data = fx.mbox_bytes(1, body=body).replace(b"Alice Example", b"Al\xe9ce")
    recs = list(parse_mbox(io.BytesIO(data), OPTS))
    assert len(recs) == 1
    assert recs[0]["properties"]["sender_domain"] == "example.com"


def test_empty_mbox_yields_nothing() -> None:
    assert _parse(parse_mbox, b"") == []


def test_timestamp_parsing_helpers() -> None:
    assert to_epoch_ms("1500000000000") == 1_500_000_000_000
    assert to_epoch_ms("2017-07-14T02:40:00Z") == 1_500_000_000_000
    assert to_epoch_ms("garbage") is None


def test_classify_known_paths() -> None:
    assert classify("Takeout/Location History (Timeline)/Records.json") is RECORDS
    assert kind("Takeout/Location History/Semantic Location History/2019/2019_MAY.json") == "semantic"
    assert kind("Takeout/Chrome/BrowserHistory.json") == "browser_history"
    assert classify("Takeout/archive_browser.html") is None


def test_classify_every_google_takeout_parser_path() -> None:
    assert kind("Takeout/Chrome/History.json") == "browser_history"  # the name since 2023
    assert kind("Takeout/YouTube and YouTube Music/history/search-history.json") == "my_activity"
    assert kind("Takeout/YouTube/history/watch-history.json") == "watch_history"
    assert kind("Takeout/My Activity/Maps/My Activity.json") == "my_activity"
    assert kind("Takeout/Location History/LocationHistory.json") == "records"
    assert kind("Takeout/Google Play Store/Installs.json") == "app_installs"
    assert kind("Takeout/YouTube and YouTube Music/live chats/live chats.csv") == "youtube_live_chats"
    assert kind("Takeout/Keep/a note.json") == "keep_note"
    assert kind("Takeout/Keep/a note.html") is None and kind("Takeout/Chrome/Bookmarks.html") is None


def test_comment_text_formats() -> None:
    from hexlake.importers.formats.extra import comment_text

    assert comment_text('{"text":"a"},{"text":"b"}') == "ab"
    assert comment_text('{"takeoutSegments":[{"text":"old"}]}') == "old"
    assert comment_text("plain words") == "plain words"
    assert comment_text("") is None


def _all(parser: Callable[..., Iterable[dict]], data: bytes) -> list[dict]:
    import io

    from hexlake.importers.formats import ParseOptions

    return list(parser(io.BytesIO(data), ParseOptions()))


def test_html_my_activity_gives_the_same_events_as_json() -> None:
    from hexlake.importers.formats.html import parse_my_activity_html

    search, maps, unknown_zone = _all(parse_my_activity_html, fx.my_activity_html())
    assert search["event_type"] == "search_activity" and search["properties"]["query"] == "paris cafes"
    assert search["timestamp"] == "2021-01-15T17:54:12.000Z"  # CET in January is UTC+1
    assert maps["event_type"] == "app_activity" and maps["properties"]["product"] == "Maps"
    assert maps["timestamp"] == "2015-06-23T14:43:45.000Z"  # no zone in old exports: UTC
    assert "timestamp" not in unknown_zone  # quarantined by the gate, not stamped with a guess


def test_html_watch_history_and_comments() -> None:
    from hexlake.importers.formats.html import parse_comments_html, parse_watch_history_html

    (watch,) = _all(parse_watch_history_html, fx.watch_history_html())
    assert watch["event_type"] == "youtube_watch" and watch["properties"]["video_id"] == "html1"
    assert watch["properties"]["channel"] == "Cat Channel" and watch["timestamp"] == "2022-02-01T10:00:00.000Z"
    (comment,) = _all(parse_comments_html, fx.comments_html())
    assert comment["properties"] == {"video_id": "mM", "text_length": len("content here"),
                                     "recorded_at": "2020-04-27T23:18:23.000Z"}


def test_html_times_with_zones_and_offsets() -> None:
    from hexlake.importers.formats.html import html_time

    assert html_time("Sep 10, 2019, 8:51:45 PM PDT") == "2019-09-11T03:51:45Z"
    assert html_time("Jan 25, 2019, 8:23:48 AM GMT") == "2019-01-25T08:23:48Z"
    assert html_time("Jan 25, 2019, 8:23:48 AM GMT+02:00") == "2019-01-25T06:23:48Z"
    assert html_time("25 Jan 2019, 08:23:48 CET") == "2019-01-25T07:23:48Z"
    assert html_time("yesterday") is None and html_time("Jan 25, 2019, 8:23:48 AM QQQ") is None
