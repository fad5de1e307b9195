"""Quarantine without exposure: sealed at rest, readable through the store, keyed for erasure, expiring."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hexlake.errors import ConfigError
from hexlake.gate import FailureMessage, QuarantineRecord, QuarantineStore
from hexlake.privacy.crypto import Sealer

SECRET = b"q" * 32
PAYLOAD = {"event_type": "location_ping", "user_id": "u-secret-77", "context": {"ip": "198.51.100.9"},
           "location": {"lat": 48.858844, "lng": 2.294351}}


def record(failed_at: datetime | None = None) -> QuarantineRecord:
    return QuarantineRecord(processor="gate", source="app", event_type="location_ping", event_id="e1",
                            failed_at=failed_at or datetime.now(UTC),
                            messages=[FailureMessage(path="/x", keyword="type", message="u-secret-77 bad")],
                            payload=PAYLOAD)


def test_payload_and_failure_are_not_in_the_file_but_read_back_whole(tmp_path: Path) -> None:
    db = tmp_path / "catalog.sqlite"
    store = QuarantineStore(db, secret=SECRET)
    [rid] = store.put([record()])
    store.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    for plain in (b"u-secret-77", b"198.51.100.9", b"48.858844"):
        assert plain not in raw
    again = QuarantineStore(db, secret=SECRET)
    row = again.get(rid)
    assert row is not None and row.payload == PAYLOAD and "u-secret-77" in row.failure["messages"][0]["message"]
    assert again.counts()[0].count == 1


def test_rows_carry_the_user_key_and_fixes_stay_sealed(tmp_path: Path) -> None:
    store = QuarantineStore(tmp_path / "c.sqlite", secret=SECRET)
    [rid] = store.put([record()])
    store.update_payload(rid, {**PAYLOAD, "user_id": "u-other-88"})
    key = store._db.execute("SELECT user_key, payload_json FROM quarantine").fetchone()
    assert len(key[0]) == 64 and key[1].startswith("enc:v1:") and "u-other-88" not in key[1]


def test_another_secret_cannot_read_it(tmp_path: Path) -> None:
    db = tmp_path / "c.sqlite"
    QuarantineStore(db, secret=SECRET).put([record()])
    with pytest.raises(ConfigError):
        QuarantineStore(db, secret=b"x" * 32).list()


def test_rows_expire_after_their_retention(tmp_path: Path) -> None:
    store = QuarantineStore(tmp_path / "c.sqlite", secret=SECRET)
    now = datetime.now(UTC)
    store.put([record(now - timedelta(days=31)), record(now - timedelta(days=1))])
    assert store.purge_older_than(30, now=now) == 1
    assert len(store.list(status=None)) == 1


def test_sealer_binds_the_purpose() -> None:
    sealed = Sealer(SECRET, "quarantine").seal("hello")
    assert Sealer(SECRET, "quarantine").open(sealed) == "hello"
    with pytest.raises(ConfigError):
        Sealer(SECRET, "export").open(sealed)
