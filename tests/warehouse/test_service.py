from __future__ import annotations

import time

from hexlake.config import Settings
from hexlake.log import get_log
from hexlake.runtime import Runtime
from hexlake.warehouse import get_warehouse
from hexlake.warehouse.service import LoaderService, create

from .conftest import as_items, make_event


def wait_for(condition: object, timeout_s: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return False


def test_server_loader_service_drains_the_log_and_stops_cleanly(settings: Settings) -> None:
    runtime = Runtime(settings.model_copy(update={"warehouse": settings.warehouse.model_copy(
        update={"loader_interval_s": 0.05})}))
    try:
        service = create(runtime)
        assert isinstance(service, LoaderService)
        service.start()
        get_log(runtime).append(as_items([make_event(i) for i in range(30)]))
        warehouse = get_warehouse(runtime)

        def loaded() -> bool:
            return warehouse.query_arrow("SELECT count(*) AS n FROM raw_events")["n"][0].as_py() == 30

        assert wait_for(loaded), "the service did not load the appended events"
        service.stop()
        assert service.errors == 0
        get_log(runtime).append(as_items([make_event(100)]))
        time.sleep(0.2)
        assert warehouse.query_arrow("SELECT count(*) AS n FROM raw_events")["n"][0].as_py() == 30
    finally:
        runtime.close()


def test_runtime_accessors_open_one_log_and_one_warehouse(settings: Settings) -> None:
    runtime = Runtime(settings)
    try:
        assert get_log(runtime) is get_log(runtime)
        assert get_warehouse(runtime) is get_warehouse(runtime)
        assert (settings.data_dir / "log.sqlite").exists()
        assert get_warehouse(runtime).read_query("DESCRIBE raw_events").num_rows > 0
    finally:
        runtime.close()
