"""Places CRUD and nearby over HTTP, and 400s that name the bad field."""

from __future__ import annotations

import h3
import pytest
from fastapi.testclient import TestClient


def add(client: TestClient, pid: str, lat: float, lng: float, category: str = "cafe") -> dict:
    r = client.post("/v1/places", json={"id": pid, "name": f"Place {pid}", "category": category,
                                        "lat": lat, "lng": lng, "attributes": {"floor": 1}})
    assert r.status_code == 201, r.text
    return r.json()


def test_create_get_update_delete_round_trip(client: TestClient) -> None:
    created = add(client, "p1", 48.8584, 2.2945)
    assert created["h3_r9"] == h3.latlng_to_cell(48.8584, 2.2945, 9)
    assert len(created["h3_r6"]) == 15 and len(created["h3_r12"]) == 15
    assert client.get("/v1/places/p1").json()["attributes"] == {"floor": 1}

    r = client.patch("/v1/places/p1", json={"name": "Tour Eiffel", "lat": 48.86, "attributes": {"x": "y"}})
    assert r.status_code == 200
    body = r.json()
    assert (body["name"], body["lat"], body["lng"]) == ("Tour Eiffel", 48.86, 2.2945)
    assert body["attributes"] == {"floor": 1, "x": "y"}
    assert body["h3_r9"] != created["h3_r9"]

    assert client.delete("/v1/places/p1").status_code == 204
    r = client.get("/v1/places/p1")
    assert r.status_code == 404
    assert r.json()["error"]["type"] == "NotFound"


def test_duplicate_id_is_a_conflict(client: TestClient) -> None:
    add(client, "p1", 1.0, 1.0)
    r = client.post("/v1/places", json={"id": "p1", "name": "again", "lat": 1.0, "lng": 1.0})
    assert r.status_code == 409
    assert r.json()["error"]["field"] == "id"


def test_nearby_sorted_by_distance_with_distances(client: TestClient) -> None:
    add(client, "far", 52.5200, 13.4100)
    add(client, "near", 52.5200, 13.4051)
    add(client, "bar1", 52.5201, 13.4050, category="bar")
    add(client, "out", 52.6000, 13.4050)
    r = client.get("/v1/places/nearby", params={"lat": 52.52, "lng": 13.405, "radius_m": 1000})
    assert r.status_code == 200
    places = r.json()["places"]
    assert [p["id"] for p in places] == ["near", "bar1", "far"]
    assert places[0]["distance_m"] == pytest.approx(6.77, abs=0.05)
    assert places[0]["name"] == "Place near"
    r = client.get("/v1/places/nearby", params={"lat": 52.52, "lng": 13.405, "radius_m": 1000, "category": "bar"})
    assert [p["id"] for p in r.json()["places"]] == ["bar1"]


def test_nearby_sees_updates_and_deletes(client: TestClient) -> None:
    add(client, "a", 10.0, 10.0)
    params = {"lat": 10.0, "lng": 10.0, "radius_m": 100}
    assert client.get("/v1/places/nearby", params=params).json()["count"] == 1
    client.patch("/v1/places/a", json={"lat": 11.0})
    assert client.get("/v1/places/nearby", params=params).json()["count"] == 0
    client.patch("/v1/places/a", json={"lat": 10.0})
    client.delete("/v1/places/a")
    assert client.get("/v1/places/nearby", params=params).json()["count"] == 0


def test_list_pages_by_id(client: TestClient) -> None:
    for i in range(5):
        add(client, f"p{i}", 1.0, 1.0 + i / 100)
    first = client.get("/v1/places", params={"limit": 2}).json()
    assert [p["id"] for p in first["places"]] == ["p0", "p1"]
    second = client.get("/v1/places", params={"limit": 2, "after": first["next_after"]}).json()
    assert [p["id"] for p in second["places"]] == ["p2", "p3"]


@pytest.mark.parametrize(("params", "field"), [
    ({"lat": 91, "lng": 0}, "lat"),
    ({"lat": -90.5, "lng": 0}, "lat"),
    ({"lat": "nan", "lng": 0}, "lat"),
    ({"lat": 0, "lng": 180.1}, "lng"),
    ({"lat": 0, "lng": "inf"}, "lng"),
    ({"lat": 0, "lng": 0, "radius_m": 0}, "radius_m"),
    ({"lat": 0, "lng": 0, "radius_m": -5}, "radius_m"),
    ({"lat": 0, "lng": 0, "radius_m": 10_000_000}, "radius_m"),
    ({"lat": 0, "lng": 0, "radius_m": "nan"}, "radius_m"),
    ({"lat": 0, "lng": 0, "limit": 0}, "limit"),
])
def test_bad_nearby_input_is_a_400_naming_the_field(client: TestClient, params: dict, field: str) -> None:
    r = client.get("/v1/places/nearby", params=params)
    assert r.status_code == 400
    assert r.json()["error"]["field"] == field
    assert r.json()["error"]["message"]


@pytest.mark.parametrize(("body", "field"), [
    ({"name": "x", "lat": 1, "lng": 1}, "id"),
    ({"id": "x", "lat": 1, "lng": 1}, "name"),
    ({"id": "x", "name": "x", "lat": 100, "lng": 1}, "lat"),
    ({"id": "x", "name": "x", "lat": "north", "lng": 1}, "lat"),
    ({"id": "x", "name": "x", "lat": 1, "lng": -181}, "lng"),
    ({"id": "x", "name": "x", "lat": 1, "lng": 1, "attributes": [1]}, "attributes"),
])
def test_bad_place_body_is_a_400_naming_the_field(client: TestClient, body: dict, field: str) -> None:
    r = client.post("/v1/places", json=body)
    assert r.status_code == 400
    assert r.json()["error"]["field"] == field


def test_patch_cannot_change_the_id(client: TestClient) -> None:
    add(client, "a", 1.0, 1.0)
    r = client.patch("/v1/places/a", json={"id": "b"})
    assert r.status_code == 400 and r.json()["error"]["field"] == "id"
