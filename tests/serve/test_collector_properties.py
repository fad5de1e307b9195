"""Property tests: whatever arrives at the collector, the answer is 2xx or 4xx JSON, never a 500."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pytest import TempPathFactory

from hexlake.config import Settings
from hexlake.serve.app import create_app
from hexlake.setup import initialise

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)
KEYS = ["event_id", "event_type", "user_id", "timestamp", "sent_at", "properties", "data", "context",
        "location", "consent", "traits", "anonymous_id", "session_id", "schema_version"]
event_like = st.fixed_dictionaries({}, optional={k: json_values for k in KEYS}) | st.fixed_dictionaries(
    {"event_type": st.sampled_from(["track", "location_ping", "place_interaction", "identify", "login", "x"])},
    optional={k: json_values for k in KEYS if k != "event_type"},
)


@pytest.fixture(scope="module")
def app_and_key(tmp_path_factory: TempPathFactory) -> Iterator[tuple[TestClient, str]]:
    settings_ = Settings(data_dir=tmp_path_factory.mktemp("prop") / "data")
    key = initialise(settings_)["write_key"]
    app = create_app(settings_, background=False)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, key


def _check(resp: Any) -> None:
    assert resp.status_code < 500, resp.text
    body = resp.json()
    if resp.status_code >= 400:
        assert body["error"]["message"]
    else:
        n = body["accepted"] + body["duplicates"] + len(body["errors"])
        assert n >= 1 and body["quarantined"] <= len(body["errors"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.binary(max_size=300), ctype=st.sampled_from(
    ["application/json", "application/x-ndjson", "text/plain", "", "application/xml"]))
def test_arbitrary_bytes_never_cause_a_500(app_and_key: tuple[TestClient, str], raw: Any, ctype: Any) -> None:
    client, key = app_and_key
    headers = {"Authorization": f"Bearer {key}"} | ({"Content-Type": ctype} if ctype else {})
    _check(client.post("/v1/events", content=raw, headers=headers))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.lists(event_like | json_values, min_size=1, max_size=5) | event_like)
def test_arbitrary_json_events_get_one_outcome_each(app_and_key: tuple[TestClient, str], body: Any) -> None:
    client, key = app_and_key
    resp = client.post("/v1/events", content=json.dumps(body), headers={
        "Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    _check(resp)
    if resp.status_code == 200:
        items = body if isinstance(body, list) else [body]
        if isinstance(body, dict) and isinstance(body.get("batch"), list):
            items = body["batch"]
        r = resp.json()
        assert r["accepted"] + r["duplicates"] + len(r["errors"]) == len(items)
