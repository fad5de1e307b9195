"""Only hexlake's own producers may pass an already-hashed ``user_key`` through the gate."""

import hashlib

from hexlake.gate.envelope import SourceInfo
from hexlake.serve import operations as ops

KEY = hashlib.sha256(b"someone").hexdigest()


def _event(i: int) -> dict:
    return {"event_id": f"d{i}", "event_type": "geofence_enter", "user_key": KEY, "properties": {"dwell_s": 0}}


def test_internal_source_keeps_the_hashed_user_key(settings):
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


def test_reserved_source_names_cannot_be_created(settings):
    import pytest

    from hexlake.errors import BadRequest
    from hexlake.runtime import Runtime
    from hexlake.setup import initialise

    initialise(settings)
    rt = Runtime(settings)
    with pytest.raises(BadRequest, match="reserved"):
        ops.sources_create(rt, "hexlake-stream")
    rt.close()
