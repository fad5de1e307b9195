import hexlake.gate
import hexlake.privacy


def test_gate_all_matches_public_names():
    public = {n for n in vars(hexlake.gate) if not n.startswith("_")} - {
        "dedupe", "envelope", "pipeline", "plan", "quarantine", "registry", "fields", "scrub", "config"}
    assert set(hexlake.gate.__all__) == public


def test_privacy_all_matches_public_names():
    public = {n for n in vars(hexlake.privacy) if not n.startswith("_")} - {"hashing", "secret"}
    assert set(hexlake.privacy.__all__) == public
