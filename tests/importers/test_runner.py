"""Imports through the real gate and log: counts, dedupe, resume, truncation, quarantine, privacy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hexlake.errors import ImportRefused, ServiceUnavailable
from hexlake.importers.runner import ImportOptions
from hexlake.importers.service import gate_delivery, get_importer, get_store
from hexlake.importers.store import Counts
from hexlake.runtime import Runtime
from tests.importers import fixtures as fx
from tests.importers.conftest import log_events

OPTS = ImportOptions()


def test_archive_imports_every_format_through_the_gate(runtime: Runtime, tmp_path: Path) -> None:
    path = fx.write_zip(tmp_path / "takeout.zip", fx.takeout_files(records=5))
    row = get_importer(runtime).import_path(path, "alice", OPTS)
    assert row.status == "done"
    assert (row.records, row.accepted, row.quarantined) == (23, 23, 0)
    assert row.bytes_done == row.total_bytes > 0
    assert all(f.sha256 and len(f.sha256) == 64 for f in row.files)
    events = log_events(runtime)
    by_type: dict[str, int] = {}
    for e in events:
        by_type[e.event_type] = by_type.get(e.event_type, 0) + 1
    assert by_type == {
        "location_record": 8,
        "place_visit": 3,
        "activity_segment": 3,
        "search_activity": 1,
        "app_activity": 1,
        "youtube_watch": 3,
        "browser_visit": 2,
        "email_header": 2,
    }
    assert {e.user_key for e in events} == {row.user_key}
    assert all(e.source == "takeout" for e in events)
    assert "alice" not in json.dumps([e.user_key for e in events])


def test_location_events_get_h3_and_utc_event_time(runtime: Runtime, tmp_path: Path) -> None:
    path = fx.write_dir(tmp_path / "export", {"Takeout/Location History/Records.json": fx.records_json(2)})
    get_importer(runtime).import_path(path, "alice", ImportOptions(precise_location=True))
    first = sorted(log_events(runtime), key=lambda e: e.ts)[0]
    assert first.ts.isoformat() == "2017-07-14T02:40:00+00:00"
    assert first.lat == pytest.approx(50.64) and first.lng == pytest.approx(3.05)
    assert first.h3_r9 is not None


def test_mail_sender_domain_is_hashed_and_bodies_not_stored(runtime: Runtime, tmp_path: Path) -> None:
    path = fx.write_dir(tmp_path / "export", {"Takeout/Mail/All.mbox": fx.mbox_bytes(1)})
    get_importer(runtime).import_path(path, "alice", OPTS)
    (event,) = log_events(runtime)
    assert event.properties["sender_domain"] != "example.com"
    assert len(event.properties["sender_domain"]) == 64
    assert "body" not in event.properties and "subject" not in event.properties


def test_end_location_is_coarsened_without_precise_consent(runtime: Runtime, tmp_path: Path) -> None:
    path = fx.write_dir(tmp_path / "e", {"Takeout/Semantic Location History/2017/2017_JULY.json": fx.semantic_json(1)})
    get_importer(runtime).import_path(path, "alice", OPTS)
    seg = next(e for e in log_events(runtime) if e.event_type == "activity_segment")
    assert seg.properties["end_location"] != {"lat": 50.65, "lng": 3.06}
    assert seg.properties["end_location"]["lat"] == pytest.approx(50.65, abs=0.01)


def test_same_archive_twice_is_skipped_and_forced_reimport_adds_nothing(runtime: Runtime, tmp_path: Path) -> None:
    path = fx.write_zip(tmp_path / "takeout.zip", fx.takeout_files(records=5))
    importer = get_importer(runtime)
    first = importer.import_path(path, "alice", OPTS)
    again = importer.import_path(path, "alice", OPTS)
    assert again.status == "skipped" and first.id in (again.message or "")
    forced = importer.import_path(path, "alice", OPTS, force=True)
    assert forced.status == "done"
    assert (forced.accepted, forced.duplicates) == (0, first.records)
    assert len(log_events(runtime)) == first.accepted


def test_overlapping_exports_add_only_the_new_records(runtime: Runtime, tmp_path: Path) -> None:
    a = fx.write_zip(tmp_path / "a.zip", {"Takeout/Location History/Records.json": fx.records_json(10)})
    b = fx.write_tgz(tmp_path / "b.tgz", {"Takeout/Location History/Records.json": fx.records_json(10, start=5)})
    importer = get_importer(runtime)
    importer.import_path(a, "alice", OPTS)
    second = importer.import_path(b, "alice", OPTS)
    assert (second.accepted, second.duplicates) == (5, 5)
    events = log_events(runtime)
    assert len(events) == len({e.event_id for e in events}) == 15


def test_same_record_in_ms_and_iso_form_is_one_event(runtime: Runtime, tmp_path: Path) -> None:
    doc_ms = {"locations": [fx.location_entry(1)]}
    doc_iso = {"locations": [fx.location_entry(1, iso=True)]}
    path = fx.write_dir(
        tmp_path / "e",
        {
            "Takeout/Location History/Records.json": json.dumps(doc_ms).encode(),
            "Takeout/Location History (Timeline)/Records.json": json.dumps(doc_iso).encode(),
        },
    )
    row = get_importer(runtime).import_path(path, "alice", OPTS)
    assert (row.accepted, row.duplicates) == (1, 1)


def test_duplicate_records_across_files_are_imported_once(runtime: Runtime, tmp_path: Path) -> None:
    month = fx.semantic_json(2)
    path = fx.write_dir(
        tmp_path / "e",
        {
            "Takeout/Semantic Location History/2017/2017_JULY.json": month,
            "Takeout/Semantic Location History/2017/2017_AUGUST.json": month,
        },
    )
    row = get_importer(runtime).import_path(path, "alice", OPTS)
    assert (row.records, row.accepted, row.duplicates) == (8, 4, 4)
    assert len(log_events(runtime)) == 4


def test_another_user_importing_the_same_file_gets_their_own_events(runtime: Runtime, tmp_path: Path) -> None:
    path = fx.write_dir(tmp_path / "e", {"Takeout/Location History/Records.json": fx.records_json(3)})
    importer = get_importer(runtime)
    importer.import_path(path, "alice", OPTS)
    bob = importer.import_path(path, "bob", OPTS)
    assert bob.accepted == 3
    assert len({e.user_key for e in log_events(runtime)}) == 2


def test_truncated_file_imports_complete_records_and_reports_it(runtime: Runtime, tmp_path: Path) -> None:
    data = fx.records_json(5)
    cut = data[: data.rindex(b"{") + 20]
    path = fx.write_zip(
        tmp_path / "t.zip",
        {"Takeout/Location History/Records.json": cut, "Takeout/Chrome/BrowserHistory.json": fx.browser_history_json()},
    )
    row = get_importer(runtime).import_path(path, "alice", OPTS)
    assert row.status == "done"
    records = next(f for f in row.files if f.format == "records")
    assert records.status == "truncated"
    assert "4 complete records were imported" in (records.message or "")
    assert row.accepted == 4 + 2
    assert "truncated" not in (row.message or "") and "ends early" in (row.message or "")


def test_empty_files_are_reported_empty(runtime: Runtime, tmp_path: Path) -> None:
    path = fx.write_dir(tmp_path / "e", {"Takeout/Location History/Records.json": b"", "Takeout/Mail/x.mbox": b""})
    row = get_importer(runtime).import_path(path, "alice", OPTS)
    assert [f.status for f in row.files] == ["empty", "empty"]
    assert row.status == "done" and row.records == 0


def test_non_utf8_file_imports_and_reports_the_replacement(runtime: Runtime, tmp_path: Path) -> None:
    data = fx.records_json(2).replace(b'"WIFI"', b'"WI\xe9FI"', 1)
    path = fx.write_dir(tmp_path / "e", {"Takeout/Location History/Records.json": data})
    row = get_importer(runtime).import_path(path, "alice", OPTS)
    assert row.accepted == 2
    assert "U+FFFD" in (row.files[0].message or "")


def test_bad_records_are_quarantined_with_the_reason(runtime: Runtime, tmp_path: Path) -> None:
    from hexlake.gate.resources import runtime_quarantine

    doc = {
        "locations": [
            fx.location_entry(0),
            {"timestampMs": "1500000000000"},
            {"latitudeE7": 1, "longitudeE7": 2},
            {"latitudeE7": 2**31 - 1, "longitudeE7": 1, "timestampMs": "1500000000000"},
        ]
    }
    path = fx.write_dir(tmp_path / "e", {"Takeout/Location History/Records.json": json.dumps(doc).encode()})
    row = get_importer(runtime).import_path(path, "alice", OPTS)
    assert (row.accepted, row.quarantined) == (1, 3)
    rows = runtime_quarantine(runtime).list(source="takeout")
    assert len(rows) == 3 and {r.event_type for r in rows} == {"location_record"}
    paths = sorted(m["path"] for r in rows for m in r.failure["messages"])
    assert any("recorded_at" in p for p in paths)  # the record without a time
    assert any("location" in p for p in paths)  # no coordinates / latitude 214° out of range


def test_refused_archive_is_recorded_and_nothing_is_written(runtime: Runtime, tmp_path: Path) -> None:
    path = fx.write_zip(tmp_path / "slip.zip", {"../../Records.json": fx.records_json(2)})
    with pytest.raises(ImportRefused, match="zip-slip"):
        get_importer(runtime).import_path(path, "alice", OPTS)
    (row,) = get_store(runtime).list_imports()
    assert row.status == "refused" and "zip-slip" in (row.message or "")
    assert log_events(runtime) == []


def test_failed_delivery_resumes_from_the_checkpoint_without_duplicates(runtime: Runtime, tmp_path: Path) -> None:
    importer = get_importer(runtime)
    importer.config = importer.config.model_copy(update={"batch_size": 10})
    real = gate_delivery(runtime)
    calls = {"n": 0}

    def flaky(items: list) -> Counts:
        calls["n"] += 1
        if calls["n"] == 4:
            raise ServiceUnavailable("log is down")
        return real(items)

    importer.deliver, importer.retry_delays = flaky, ()
    path = fx.write_zip(tmp_path / "t.zip", {"Takeout/Location History/Records.json": fx.records_json(55)})
    with pytest.raises(ServiceUnavailable):
        importer.import_path(path, "alice", OPTS)
    failed = get_store(runtime).list_imports()[0]
    assert failed.status == "failed" and "resume" in (failed.message or "")
    assert get_store(runtime).files(failed.id)[0].records_done == 30  # 3 batches delivered, 4th failed
    importer.deliver = real
    done = importer.import_path(path, "alice", OPTS)
    assert done.id == failed.id and done.status == "done"
    assert (done.records, done.accepted) == (55, 55)
    events = log_events(runtime)
    assert len(events) == len({e.event_id for e in events}) == 55


def test_each_imported_event_gets_its_own_reverse_geocoded_city(runtime: Runtime, tmp_path: Path) -> None:
    # One batch, two cities: the shared import context must not carry the last event's geo to all.
    points = [(48.8566, 2.3522), (35.6762, 139.6503), (48.8570, 2.3530)]
    locations = [{"latitudeE7": int(lat * 1e7), "longitudeE7": int(lng * 1e7), "accuracy": 10,
                  "timestampMs": str(fx.BASE_MS + i * 60_000)} for i, (lat, lng) in enumerate(points)]
    body = json.dumps({"locations": locations}).encode()
    path = fx.write_dir(tmp_path / "export", {"Takeout/Location History/Records.json": body})
    get_importer(runtime).import_path(path, "alice", OPTS)
    events = sorted(log_events(runtime), key=lambda e: e.ts)
    assert [e.context["geo"]["country"] for e in events] == ["FR", "JP", "FR"]
    assert all(e.context["import"]["file"] == "records" for e in events)


def test_quarantined_takeout_records_replay_after_a_restart(runtime: Runtime, tmp_path: Path) -> None:
    from hexlake.gate.resources import runtime_quarantine
    from hexlake.serve import operations

    doc = {"locations": [fx.location_entry(0), {"timestampMs": "1500000000000"},
                         {"latitudeE7": 1, "longitudeE7": 2}]}
    path = fx.write_dir(tmp_path / "e", {"Takeout/Location History/Records.json": json.dumps(doc).encode()})
    get_importer(runtime).import_path(path, "alice", OPTS)
    runtime.close()
    fresh = Runtime(runtime.settings)  # a restarted server: the importer schemas are not registered yet
    try:
        store = runtime_quarantine(fresh)
        rows = sorted(store.list(source="takeout"), key=lambda r: r.id)
        fixed = {**rows[0].payload, "properties": {**rows[0].payload["properties"],
                                                    "location": {"lat": 50.64, "lng": 3.05}}}
        store.update_payload(rows[0].id, fixed)
        result = operations.quarantine_replay(fresh)
        assert result["replayed"] == [rows[0].id]
        assert [f["id"] for f in result["still_failing"]] == [rows[1].id]
        assert "no source" not in json.dumps(result)
        assert {e.event_type for e in log_events(fresh)} == {"location_record"} and len(log_events(fresh)) == 2
    finally:
        fresh.close()


def test_every_file_google_takeout_parser_knows_is_imported(runtime: Runtime, tmp_path: Path) -> None:
    path = fx.write_zip(tmp_path / "takeout.zip", fx.more_takeout_files())
    row = get_importer(runtime).import_path(path, "alice", OPTS)
    assert (row.status, row.quarantined, row.errors) == ("done", 0, 0)
    assert {f.path.rsplit("/", 1)[-1] for f in row.files} == {
        "History.json", "search-history.json", "likes.json", "comments.csv", "live chats.csv",
        "Installs.json", "Groceries.json", "My Activity.json", "Location History.json"}
    by_type: dict[str, list] = {}
    for e in log_events(runtime):
        by_type.setdefault(e.event_type, []).append(e)
    assert {t: len(v) for t, v in by_type.items()} == {
        "browser_visit": 2, "search_activity": 2, "youtube_like": 1, "youtube_comment": 1,
        "youtube_live_chat": 1, "app_install": 1, "keep_note": 1, "app_activity": 1, "youtube_watch": 1,
        "location_record": 2}
    assert by_type["search_activity"][0].properties["query"] in ("lofi", "hexlake data")
    (comment,) = by_type["youtube_comment"]
    assert comment.properties["text_length"] == len("Nice, video\n!") and "text" not in comment.properties
    (note,) = by_type["keep_note"]
    assert (note.properties["list_items"], note.properties["checked_items"]) == (2, 1)
    assert "title" not in note.properties and "Groceries" not in json.dumps(note.properties)
    (install,) = by_type["app_install"]
    assert install.properties["title"] == "Maps" and "Alice" not in json.dumps(install.properties)
    assert install.ts.isoformat().startswith("2021-03-01T10:00:00")


def test_comment_and_note_text_only_with_bodies(runtime: Runtime, tmp_path: Path) -> None:
    files = {k: v for k, v in fx.more_takeout_files().items() if k.endswith(("comments.csv", "Groceries.json"))}
    path = fx.write_dir(tmp_path / "e", files)
    get_importer(runtime).import_path(path, "alice", ImportOptions(include_bodies=True))
    texts = {e.event_type: e.properties for e in log_events(runtime)}
    assert texts["youtube_comment"]["text"] == "Nice, video\n!"
    assert texts["keep_note"]["title"] == "Groceries" and texts["keep_note"]["text"] == "milk\neggs"


def test_legacy_html_exports_are_imported_too(runtime: Runtime, tmp_path: Path) -> None:
    yt = "Takeout/YouTube and YouTube Music/"
    files = {"Takeout/My Activity/Search/My Activity.html": fx.my_activity_html(),
             yt + "history/watch-history.html": fx.watch_history_html(),
             yt + "my-comments/my-comments.html": fx.comments_html()}
    row = get_importer(runtime).import_path(fx.write_zip(tmp_path / "t.zip", files), "alice", OPTS)
    assert (row.status, row.records, row.accepted, row.quarantined) == ("done", 5, 4, 1)  # one unknown zone
    types = sorted(e.event_type for e in log_events(runtime))
    assert types == ["app_activity", "search_activity", "youtube_comment", "youtube_watch"]
