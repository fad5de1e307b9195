"""hexlake's Python SDK. ``Client(write_key, host)``; see docs/sdk.md.

    from hexlake.client import Client
    client = Client("hxw_...", "http://127.0.0.1:8600")
    client.track("signup", {"plan": "pro"}, user_id="u1")
    client.location(52.52, 13.405, accuracy=12, user_id="u1")
    client.shutdown()
"""

from hexlake.client.disk import DiskQueue
from hexlake.client.errors import DeliveryError, EventsRejected
from hexlake.client.sdk import Client

__all__ = ["Client", "DeliveryError", "DiskQueue", "EventsRejected"]
