"""Staging audits accept every value the gate lets through (else valid data would stop every run)."""

import json
import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "hexlake"


def test_interaction_audit_accepts_every_interaction_type_of_the_schema() -> None:
    schemas = json.loads((SRC / "schemas" / "builtin" / "place.json").read_text())
    enum = {v for s in schemas if s["x-event-type"] == "place_interaction"
            for v in s["properties"]["interaction_type"]["enum"]}
    sql = (SRC / "transform" / "project" / "models" / "staging" / "stg_place_interactions.sql").read_text()
    accepted = set(re.findall(r"'([a-z_]+)'", sql.split("accepted_values", 1)[1].split("))", 1)[0]))
    assert enum <= accepted, sorted(enum - accepted)
