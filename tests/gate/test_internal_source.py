"""Only hexlake's own producers may pass an already-hashed ``user_key`` through the gate."""

import hashlib
from typing import Any

from hexlake.gate.envelope import SourceInfo
from hexlake.serve import operations as ops

KEY = hashlib.sha256(b"someone").hexdigest()


def _event(i: int) -> dict:
    return {"event_id": f"d{i}", "event_type": "geofence_enter", "user_key": KEY, "properties": {"dwell_s": 0}}


def test_internal_source_keeps_the_hashed_user_key(settings: Any) -> None:
    from hexlake.collect.ingest import runtime_gate
    from hexlake.runtime import Runtime
    from hexlake.setup import initialise

    initialise(settings)
    rt = Runtime(settings)
    gate = runtime_gate(rt)
    inside = gate.process([_event(1)], source=SourceInfo(name="hexlake-stream", internal=True))
    outside = gate.process([_event(2)], source=SourceInfo(name="web"))
    rt.close()
    assert inside.accepted[0].user_key == KEY
    assert outside.accepted[0].user_key is None


def test_reserved_source_names_cannot_be_created(settings: Any) -> None:
    import pytest

    from hexlake.errors import BadRequest
    from hexlake.runtime import Runtime
    from hexlake.setup import initialise

    initialise(settings)
    rt = Runtime(settings)
    with pytest.raises(BadRequest, match="reserved"):
        ops.sources_create(rt, "hexlake-stream")
    rt.close()


def test_geoip_source_gets_the_country_and_no_source_keeps_the_ip(settings: Any) -> None:
    from hexlake.collect.ingest import runtime_gate
    from hexlake.runtime import Runtime
    from hexlake.setup import initialise

    initialise(settings)
    rt = Runtime(settings)
    gate = runtime_gate(rt)
    event = {"event_type": "track", "user_id": "u", "context": {"ip": "81.2.69.142", "locale": "en-GB"}}
    with_geo = gate.process([dict(event)], source=SourceInfo(name="web", geoip=True)).accepted[0]
    without = gate.process([dict(event)], source=SourceInfo(name="web")).accepted[0]
    private = gate.process([{**event, "context": {"ip": "10.1.2.3"}}],
                           source=SourceInfo(name="web", geoip=True)).accepted[0]
    rt.close()
    assert with_geo.context == {"locale": "en-GB", "geo_ip": {"country": "GB"}}
    assert without.context == {"locale": "en-GB"}
    assert private.context == {}
