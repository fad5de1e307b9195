"""``hexlake init``: create a data dir with its secret, keys, schemas, log and warehouse."""

from __future__ import annotations

from typing import Any

from hexlake.config import Settings
from hexlake.errors import Conflict
from hexlake.runtime import Runtime


def initialise(settings: Settings) -> dict[str, Any]:
    """Create everything a data dir needs; refuses to touch an initialised one."""
    from hexlake.collect.sources import get_keystore
    from hexlake.gate.resources import runtime_registry
    from hexlake.log import get_log
    from hexlake.privacy.secret import create_secret
    from hexlake.warehouse import get_warehouse

    paths = settings.paths
    if paths.secret.exists():
        raise Conflict(f"{settings.data_dir} is already initialised (its secret exists); nothing changed")
    from hexlake.ops.modes import DIR_MODE, secure_umask

    secure_umask()
    paths.root.mkdir(parents=True, exist_ok=True)
    paths.root.chmod(DIR_MODE)
    create_secret(paths.secret)
    runtime = Runtime(settings)
    try:
        keys = get_keystore(runtime)
        write_key = keys.create_source("default")
        read_key = keys.create_read_key("default")
        runtime_registry(runtime).install_builtins()
        get_log(runtime)
        get_warehouse(runtime).ensure_raw_tables()
    finally:
        runtime.close()
    return {"data_dir": str(settings.data_dir), "write_key": write_key, "read_key": read_key}
