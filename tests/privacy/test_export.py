"""Exporting a person: a zip with one file per layer holding their rows, and nobody else's; over
HTTP for an admin or the person's own subject token only."""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from hexlake.privacy.erase import subject_of
from hexlake.privacy.export import export_zip
from hexlake.runtime import Runtime
from hexlake.serve import operations as ops
from hexlake.serve.app import create_app

from .conftest import ERASED, OTHERS, all_events, populate

pytestmark = pytest.mark.slow


def rows(zf: zipfile.ZipFile, name: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.TextIOWrapper(zf.open(name), encoding="utf-8")))


def test_export_holds_every_layer_of_the_person_and_only_theirs(runtime: Runtime, tmp_path: Path) -> None:
    populate(runtime, all_events())
    key = subject_of(runtime, ERASED).user_key
    written = export_zip(runtime, ERASED, tmp_path / "me.zip")
    with zipfile.ZipFile(tmp_path / "me.zip") as zf:
        names = set(zf.namelist())
        assert {"README.md", "warehouse/main.raw_events.csv", "online_features.json", "quarantine.json"} <= names
        assert any(n.startswith("warehouse/marts.") for n in names)
        raw = rows(zf, "warehouse/main.raw_events.csv")
        assert raw and all(r["user_key"] == key or key in r["properties"] for r in raw)
        assert len(raw) == written["warehouse/main.raw_events.csv"]
        assert ERASED in zf.read("quarantine.json").decode()  # decrypted for its owner
        other = subject_of(runtime, OTHERS[1]).user_key
        assert all(other.encode() not in zf.read(n) for n in names)


def test_export_pages_join_into_one_csv_per_table(runtime: Runtime, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows are streamed in pages (bounded memory): every page lands, with one header."""
    from hexlake.privacy import export
    from hexlake.warehouse import get_warehouse

    populate(runtime, all_events(), quarantine=False)
    key = subject_of(runtime, ERASED).user_key
    held = get_warehouse(runtime).cursor().execute(
        "SELECT COUNT(*) FROM main.raw_events WHERE user_key = ? OR strpos(CAST(properties AS VARCHAR), ?) > 0",
        [key, key]).fetchone()[0]
    monkeypatch.setattr(export, "PAGE", 4)
    assert held > 3 * 4  # several pages
    written = export_zip(runtime, ERASED, tmp_path / "me.zip")
    with zipfile.ZipFile(tmp_path / "me.zip") as zf:
        raw = rows(zf, "warehouse/main.raw_events.csv")
        assert len(raw) == written["warehouse/main.raw_events.csv"] == held
        assert len({r["event_id"] for r in raw}) == held  # no page twice, none missing
        lines = zf.read("warehouse/main.raw_events.csv").splitlines()
        assert [i for i, line in enumerate(lines) if line.startswith(b'"event_id",')] == [0]  # one header
        assert not [n for n in zf.namelist() if n.startswith("warehouse/") and not rows(zf, n)]  # no empty file


def test_export_over_http_admin_and_own_subject_token_only(runtime: Runtime) -> None:
    populate(runtime, all_events()[:20], quarantine=False)
    mine = ops.get("keys_create")(runtime, kind="subject", name="me", subject=ERASED)["key"]
    theirs = ops.get("keys_create")(runtime, kind="subject", name="them", subject=OTHERS[0])["key"]
    runtime.close()
    app = create_app(runtime.settings, background=False)
    with TestClient(app) as client:
        ok = client.get(f"/v1/subjects/{ERASED}/export", headers={"Authorization": f"Bearer {mine}"})
        assert ok.status_code == 200 and ok.headers["content-type"] == "application/zip"
        assert "README.md" in zipfile.ZipFile(io.BytesIO(ok.content)).namelist()
        denied = client.get(f"/v1/subjects/{ERASED}/export", headers={"Authorization": f"Bearer {theirs}"})
        assert denied.status_code == 403
        erase = client.delete(f"/v1/subjects/{ERASED}", headers={"Authorization": f"Bearer {mine}"})
        assert erase.status_code == 403  # erasure is an admin's act


def test_erase_over_http_needs_an_admin_and_a_valid_id(runtime: Runtime) -> None:
    admin = ops.get("keys_create")(runtime, kind="admin", name="ops")["key"]
    reader = ops.get("keys_create")(runtime, kind="read", name="dash")["key"]
    runtime.close()
    app = create_app(runtime.settings, background=False)
    with TestClient(app) as client:
        as_admin = {"Authorization": f"Bearer {admin}"}
        done = client.delete("/v1/subjects/someone-42", headers=as_admin)
        assert done.status_code == 200 and done.json()["clean"] is True and "CLEAN" in done.json()["text"]
        waited = client.delete("/v1/subjects/someone-42?wait=true", headers=as_admin)
        assert waited.status_code == 200 and waited.json()["clean"] is True
        assert client.delete("/v1/subjects/someone-42?wait=maybe", headers=as_admin).status_code in (400, 422)
        too_long = client.delete("/v1/subjects/" + "x" * 300, headers=as_admin)
        assert too_long.status_code == 400 and too_long.json()["error"]["field"] == "user_id"
        as_reader = {"Authorization": f"Bearer {reader}"}
        assert client.delete("/v1/subjects/someone-42", headers=as_reader).status_code == 403
        assert client.delete("/v1/subjects/someone-42").status_code == 401
