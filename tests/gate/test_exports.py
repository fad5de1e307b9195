from types import ModuleType

import hexlake.gate
import hexlake.privacy


def test_gate_all_matches_the_lazy_exports_and_each_resolves() -> None:
    assert sorted(hexlake.gate.__all__) == sorted(hexlake.gate._EXPORTS)
    for name in hexlake.gate.__all__:
        assert getattr(hexlake.gate, name) is not None


def test_privacy_all_matches_public_names() -> None:
    public = {n for n, v in vars(hexlake.privacy).items() if not n.startswith("_") and not isinstance(v, ModuleType)}
    assert set(hexlake.privacy.__all__) == public
