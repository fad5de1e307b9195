import hexlake.log
import hexlake.warehouse


def test_public_names_of_the_log_and_warehouse_stages_exist() -> None:
    for module in (hexlake.log, hexlake.warehouse):
        missing = [name for name in module.__all__ if not hasattr(module, name)]
        assert missing == [], f"{module.__name__}.__all__ names missing attributes: {missing}"
    assert {"open_log", "get_log", "EventLog", "AppendItem"} <= set(hexlake.log.__all__)
    assert {"Warehouse", "open_warehouse", "get_warehouse", "RawLoader"} <= set(hexlake.warehouse.__all__)
