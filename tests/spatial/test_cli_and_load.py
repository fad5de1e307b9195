"""`hexlake places` commands and bulk load: streamed, bad rows reported with line numbers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hexlake.config import Settings
from hexlake.runtime import Runtime
from hexlake.setup import initialise
from hexlake.spatial.cli import app
from hexlake.spatial.demo import demo_cities, demo_places, load_demo_places
from hexlake.spatial.loader import load_file
from hexlake.spatial.resources import places

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HEXLAKE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    initialise(Settings(data_dir=tmp_path / "data"))  # commands run operations, which need an initialised dir
    return tmp_path


CSV = """id,name,category,lat,lng,opening
c1,Cafe One,cafe,52.52,13.405,8am
c2,Cafe Two,cafe,52.521,13.406,
bad1,Nowhere,cafe,95,13.4,
bad2,,cafe,52.5,13.4,
c3,Bar,bar,52.522,13.404,late
bad3,Bar,bar,abc,13.4,
"""


def test_load_csv_reports_bad_rows_with_line_numbers(env: Path) -> None:
    (env / "places.csv").write_text(CSV)
    r = runner.invoke(app, ["load", str(env / "places.csv"), "--json"])
    assert r.exit_code == 1
    summary = json.loads(r.stdout)
    assert summary["loaded"] == 3 and summary["bad_rows"] == 3
    assert [e["where"] for e in summary["errors"]] == ["line 4", "line 5", "line 7"]
    assert "lat" in summary["errors"][0]["error"] and "name" in summary["errors"][1]["error"]
    r = runner.invoke(app, ["get", "c1", "--json"])
    assert r.exit_code == 0
    assert json.loads(r.stdout)["attributes"] == {"opening": "8am"}


def test_load_geojson_and_lines(env: Path, runtime: Runtime) -> None:
    fc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "id": 7, "geometry": {"type": "Point", "coordinates": [2.35, 48.85]},
         "properties": {"name": "Seven", "category": "museum", "stars": 4}},
        {"type": "Feature", "geometry": {"type": "LineString", "coordinates": [[0, 0], [1, 1]]},
         "properties": {"id": "x", "name": "Line"}},
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [2.36, 48.86]},
         "properties": {"id": "g2", "name": "Two"}},
    ]}
    (env / "p.geojson").write_text(json.dumps(fc))
    report = load_file(places(runtime), env / "p.geojson", batch=1)
    assert report.loaded == 2 and [b["where"] for b in report.bad] == ["feature 1"]
    assert places(runtime).get("7").attributes == {"stars": 4}
    lines = "\n".join(json.dumps(f) for f in fc["features"]) + "\n{not json\n"
    (env / "p.geojsonl").write_text(lines)
    report = load_file(places(runtime), env / "p.geojsonl")
    assert [b["where"] for b in report.bad] == ["line 2", "line 4"]


def test_add_update_nearby_delete_and_errors(env: Path) -> None:
    r = runner.invoke(app, ["add", "p1", "--name", "Fountain", "--lat", "41.9009", "--lng", "12.4833",
                            "--category", "sight", "--attr", "era=1762", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["attributes"] == {"era": "1762"}
    r = runner.invoke(app, ["update", "p1", "--name", "Trevi", "--json"])
    assert json.loads(r.stdout)["name"] == "Trevi"
    r = runner.invoke(app, ["nearby", "--lat", "41.9", "--lng", "12.48", "--radius-m", "1000", "--json"])
    assert [p["id"] for p in json.loads(r.stdout)] == ["p1"]
    r = runner.invoke(app, ["list", "--json"])
    assert [p["id"] for p in json.loads(r.stdout)] == ["p1"]
    assert runner.invoke(app, ["delete", "p1"]).exit_code == 0
    r = runner.invoke(app, ["get", "p1"])
    assert r.exit_code != 0 and "no place with id" in str(r.exception)
    r = runner.invoke(app, ["add", "p2", "--name", "x", "--lat", "91", "--lng", "0"])
    assert r.exit_code != 0 and "lat" in str(r.exception)


def test_every_command_has_help() -> None:
    for cmd in ("add", "get", "update", "delete", "list", "nearby", "load", "cluster"):
        r = runner.invoke(app, [cmd, "--help"])
        assert r.exit_code == 0 and len(r.stdout) > 100


def test_demo_places_are_around_real_cities(runtime: Runtime) -> None:
    cities = demo_cities(5)
    assert cities[0].population >= cities[-1].population >= 1_000_000
    names = {c.name for c in demo_cities(50)}
    assert {"Tokyo", "London"} <= names
    rows = demo_places(cities, per_city=10)
    assert len(rows) == 50 and len({r["id"] for r in rows}) == 50
    assert load_demo_places(places(runtime), cities=3, per_city=20) == 60
    first = cities[0]
    near = places(runtime).nearby(first.lat, first.lng, 20_000, 100)
    assert len(near) == 20
