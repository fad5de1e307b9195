from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime
from pathlib import Path

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
def registry(tmp_path: Path):
    reg = SchemaRegistry(tmp_path / "catalog.sqlite")
    yield reg
    reg.close()


@pytest.fixture
def make_gate(registry):
    def build(**config):
        return Gate(registry, Hasher(SECRET), GateConfig(**config), DedupeWindow(1000), clock=lambda: NOW)

    return build


@pytest.fixture
def gate(make_gate):
    return make_gate()
