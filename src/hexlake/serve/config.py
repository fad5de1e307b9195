from pathlib import Path

from pydantic import Field

from hexlake._configbase import Section


class ServeConfig(Section):
    """The HTTP server."""

    host: str = Field("127.0.0.1", description="Address `hexlake serve` binds to.")
    port: int = Field(8600, description="Port `hexlake serve` listens on.")
    background: bool = Field(True, description="Run the loader, consumers and scheduler inside the server.")
    auth_cache_size: int = Field(
        10_000, ge=1, description="Most key lookups kept in the auth cache (LRU; bogus keys cannot grow it).")
    ingest_rate: str = Field(
        "5000/s", description="Default ingest rate per write key (token bucket: `N/s`, `N/min`, `N/h`, or `off`); "
        "`keys create --rate` overrides it per key. 429 with Retry-After above it.")
    read_rate: str = Field(
        "1000/s", description="Default read rate per read or subject key (as `ingest_rate`); 429 above it.")
    max_body_bytes: int = Field(
        1024 * 1024, ge=1024, description="Largest request body on routes without their own cap, counted as it "
        "streams (413 above, whatever Content-Length says).")
    max_admin_body_bytes: int = Field(
        64 * 1024 * 1024, ge=1024, description="Largest body of `/v1/admin/*` calls made with the server's admin "
        "token (the CLI's `send`, `places load`); other callers get `max_body_bytes` there.")
    rotation_grace: str = Field("24h", description="How long a rotated key keeps working by default (`keys rotate`).")
    shutdown_timeout_s: float = Field(
        8.0, gt=0, le=60, description="After SIGTERM/SIGINT the server finishes in-flight requests and stops its "
        "services within this many seconds; work still running then is abandoned (the log, loader and SQLMesh "
        "state are transactional, so it is redone) and the process exits with status 1.")


class LoggingConfig(Section):
    """The JSON log of `hexlake serve` and `hexlake worker` (one object per line)."""

    file: Path | None = Field(
        None, description="Write the log to this file (relative: inside the data dir), rotated by size, instead "
        "of stderr. `hexlake demo` sets it to `server.log` in the data dir.")
    max_bytes: int = Field(
        20 * 1024 * 1024, ge=1024, description="Rotate the log file when it would grow past this size.")
    backups: int = Field(5, ge=0, le=100, description="Rotated log files kept (`server.log.1` … `.N`).")
    level: str = Field("INFO", description="Level of hexlake's own loggers: DEBUG, INFO, WARNING, ERROR.")
    sqlmesh_level: str = Field(
        "WARNING", description="Level of SQLMesh's and SQLGlot's loggers (INFO logs every SQL statement a "
        "transform runs).")
