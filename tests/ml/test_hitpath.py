"""L1 hits of /v1/recommend answered before routing (``RecommendHitMiddleware`` in hexlake.ml.api): the
same answer as the route, the same key checks, and everything unusual left to the route."""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY

from hexlake.collect.sources import get_keystore
from hexlake.ml.api import plain_query
from hexlake.ml.serve import recommender
from hexlake.runtime import Runtime
from hexlake.serve.app import create_app
from tests.ml.test_recommend import _setup

Frames = tuple[pl.DataFrame, pl.DataFrame]
Q = {"user_id": "u1", "lat": "40.71", "lng": "-73.95", "k": "5"}


def _fast() -> float:
    return REGISTRY.get_sample_value("hexlake_recommend_l1_fast_total") or 0.0


def _route_count() -> float:
    labels = {"route": "/v1/recommend", "status": "200"}
    return REGISTRY.get_sample_value("hexlake_http_requests_total", labels) or 0.0


@pytest.fixture
def served(runtime: Runtime, frames: Frames) -> tuple[TestClient, dict[str, str]]:
    """The real server app on ``runtime`` (its snapshot built) and a read key for recommend only."""
    _setup(runtime, frames)
    app = create_app(runtime.settings, background=False)
    app.state.runtime = runtime
    key, _ = get_keystore(runtime).create_key("read", "rec", apis=["recommend"])
    return TestClient(app), {"Authorization": f"Bearer {key}"}


def test_a_hit_skips_routing_and_answers_what_the_route_answers(
    served: tuple[TestClient, dict[str, str]], runtime: Runtime
) -> None:
    client, auth = served
    first = client.get("/v1/recommend", params=Q, headers=auth)
    assert first.status_code == 200 and first.json()["cached"] is False
    fast, counted, waiting = _fast(), _route_count(), len(recommender(runtime).served)
    again = client.get("/v1/recommend", params=Q, headers=auth)
    # the route too answers hits from L1: an unknown extra parameter sends this one there
    routed = client.get("/v1/recommend", params={**Q, "debug": "1"}, headers=auth)
    assert _fast() == fast + 1, "the plain repeat is answered before routing; the other is not"
    assert _route_count() == counted + 2, "both are counted under the route in /metrics"
    assert len(recommender(runtime).served) == waiting + 2, "each hit is logged as served"
    a, b = again.json(), routed.json()
    assert a["cached"] is b["cached"] is True
    assert a["recommendation_id"] != b["recommendation_id"]
    for body in (a, b):
        assert body["items"] == first.json()["items"] and body["model_version"] == first.json()["model_version"]
    assert again.headers["content-type"] == routed.headers["content-type"] == "application/json"


def test_a_cached_list_is_no_way_around_the_keys_scope_or_rate(
    served: tuple[TestClient, dict[str, str]], runtime: Runtime
) -> None:
    client, auth = served
    assert client.get("/v1/recommend", params=Q, headers=auth).status_code == 200  # now in L1
    store = get_keystore(runtime)
    places_only, _ = store.create_key("read", "places", apis=["places"])
    slow, _ = store.create_key("read", "slow", apis=["recommend"], rate="1/h")
    waiting = len(recommender(runtime).served)
    assert client.get("/v1/recommend", params=Q).status_code == 401
    refused = client.get("/v1/recommend", params=Q, headers={"Authorization": f"Bearer {places_only}"})
    assert refused.status_code == 403 and "recommend" in refused.json()["error"]["message"]
    slow_auth = {"Authorization": f"Bearer {slow}"}
    assert client.get("/v1/recommend", params=Q, headers=slow_auth).status_code == 200
    limited = client.get("/v1/recommend", params=Q, headers=slow_auth)
    assert limited.status_code == 429 and "retry-after" in limited.headers
    assert len(recommender(runtime).served) == waiting + 1, "only the one answered request is logged"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"user_id": "u1", "k": "0"}, "k"),
        ({"user_id": "u1", "k": "101"}, "k"),
        ({"user_id": "u1", "lat": "100", "lng": "1"}, "lat"),
        ({"user_id": "u1", "lat": "north", "lng": "1"}, "lat"),
        ({"user_id": "u1", "lat": "nan", "lng": "1"}, "lat"),
        ({"user_id": "u1", "lat": "40.7"}, "lng"),
        ({"user_id": "", "k": "5"}, "user_id"),
        ({"user_id": "x" * 257}, "user_id"),
    ],
)
def test_bad_queries_get_the_routes_4xx_naming_the_field(
    served: tuple[TestClient, dict[str, str]], params: dict[str, Any], field: str
) -> None:
    client, auth = served
    fast = _fast()
    r = client.get("/v1/recommend", params=params, headers=auth)
    assert r.status_code in (400, 422) and field in r.text, r.text
    assert _fast() == fast


@pytest.mark.parametrize(
    "query",
    [
        b"user_id=u1&lat=40.71&lng=-73.95&k=5",
        b"user_id=u%20one",
        b"k=7&user_id=u1",
        b"user_id=u1&lat=-90&lng=180",
    ],
)
def test_plain_queries(query: bytes) -> None:
    assert plain_query(query) is not None


@pytest.mark.parametrize(
    "query",
    [
        b"",
        b"user_id=",
        b"user_id=a&user_id=b",  # repeated: the route's rules decide which wins
        b"user_id=u1&extra=1",
        b"user_id=u1&k=05x",
        b"user_id=u1&k=0",
        b"user_id=u1&lat=1_0&lng=2",  # float() takes underscores, the route does not
        b"user_id=u1&lat=1e1&lng=2",
        b"user_id=u1&lat=inf&lng=2",
        b"user_id=u1&lat=90.5&lng=2",
        b"user_id=u1&lat=1",
        b"user_id=%ff",
        b"user_id=u1&&k=3",
    ],
)
def test_unusual_queries_are_left_to_the_route(query: bytes) -> None:
    assert plain_query(query) is None


def test_plain_query_values() -> None:
    assert plain_query(b"user_id=u1&lat=40.71&lng=-73.95&k=5") == ("u1", 40.71, -73.95, 5)
    assert plain_query(b"user_id=u1") == ("u1", None, None, 10)
