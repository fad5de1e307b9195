"""Every public module's ``__all__`` names things that exist (the public API is what it says)."""

import importlib
import pkgutil
from collections.abc import Iterator

import hexlake


def _modules() -> Iterator[str]:
    for info in pkgutil.walk_packages(hexlake.__path__, "hexlake."):
        if ".transform.project" in info.name or info.name.endswith("__main__"):
            continue
        yield info.name


def test_all_names_exist_in_every_module() -> None:
    missing = []
    for name in _modules():
        module = importlib.import_module(name)
        for attr in getattr(module, "__all__", []):
            if not hasattr(module, attr):
                missing.append(f"{name}.{attr}")
    assert not missing, missing


def test_error_tree_is_rooted_at_hexlake_error() -> None:
    from hexlake import errors

    for attr in errors.__all__:
        cls = getattr(errors, attr)
        if attr not in ("Transient", "Terminal") and isinstance(cls, type):  # not is_transient()
            assert issubclass(cls, errors.HexlakeError), attr
            assert cls.__name__ in errors.__doc__ or cls is errors.HexlakeError, f"{attr} missing from the tree"
