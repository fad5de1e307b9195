from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from hexlake.gate import DedupeWindow, Gate, SchemaRegistry, SourceInfo
from hexlake.gate.config import GateConfig
from hexlake.privacy import Hasher

SECRET = b"s" * 32
NOW = datetime(2024, 6, 1, 12, 5, tzinfo=UTC)
WEB = SourceInfo(name="web")


def hmac_hex(value: object) -> str:
    """The user_key computed independently of hexlake."""
    return hmac.new(SECRET, str(value).encode(), hashlib.sha256).hexdigest()


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[SchemaRegistry]:
    reg = SchemaRegistry(tmp_path / "catalog.sqlite")
    yield reg
    reg.close()


@pytest.fixture
def make_gate(registry: SchemaRegistry) -> Callable[..., Gate]:
    def build(**config: Any) -> Gate:
        return Gate(registry, Hasher(SECRET), GateConfig(**config), DedupeWindow(1000), clock=lambda: NOW)

    return build


@pytest.fixture
def gate(make_gate: Callable[..., Gate]) -> Gate:
    return make_gate()
