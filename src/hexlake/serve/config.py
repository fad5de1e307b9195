from pydantic import Field

from hexlake._configbase import Section


class ServeConfig(Section):
    """The HTTP server."""

    host: str = Field("127.0.0.1", description="Address `hexlake serve` binds to.")
    port: int = Field(8600, description="Port `hexlake serve` listens on.")
    background: bool = Field(True, description="Run the loader, consumers and scheduler inside the server.")
