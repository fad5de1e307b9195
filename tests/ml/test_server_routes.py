"""The ML routes and operations inside the real server app: hostile input is a 4xx naming the field."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from hexlake.config import Settings
from hexlake.serve.app import create_app
from hexlake.setup import initialise

ADMIN = "hxa_ml_admin_token_0123456789abcdef"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[str, Any]]]:
    settings = Settings(data_dir=Path(tmp_path_factory.mktemp("mlsrv")) / "data")
    keys = initialise(settings)
    with TestClient(create_app(settings, admin_token=ADMIN, background=False)) as client:
        yield client, keys


@pytest.mark.parametrize("op, body, field", [
    ("ml_dataset", {"days": 10**12}, "days"),
    ("ml_dataset", {"strategy": "x"}, "strategy"),
    ("ml_dataset", {"name": "../x"}, "name"),
    ("ml_train", {"dataset": "nope"}, "dataset"),
    ("ml_models_promote", {"version": "v1"}, "version"),
    ("ml_models_promote", {"version": {"a": 1}}, "version"),
])
def test_operations_refuse_bad_arguments(server: Any, op: str, body: dict[str, Any], field: str) -> None:
    client, _ = server
    r = client.post(f"/v1/admin/ops/{op}", json=body, headers={"Authorization": f"Bearer {ADMIN}"})
    assert 400 <= r.status_code < 500, r.text
    assert field in r.text


def test_recommend_on_an_empty_server_answers_an_empty_list(server: Any) -> None:
    client, keys = server
    r = client.get("/v1/recommend", params={"user_id": "\u0000' OR 1=1 --", "k": 3},
                   headers={"Authorization": f"Bearer {keys['read_key']}"})
    assert r.status_code == 200 and r.json()["items"] == []
    assert client.get("/v1/recommend", params={"user_id": "u"}).status_code == 401
    r = client.get("/v1/features/places/x", headers={"Authorization": f"Bearer {keys['read_key']}"})
    assert r.status_code == 404 and "place_id" in r.text
