"""The web console: a browser UI over the JSON APIs, served by ``hexlake serve`` at ``/``, fully offline.

Every asset is inside the package (``static/``, with ``static/vendor`` reproduced by ``make vendor``);
the pages call the same JSON APIs as any client, with the key the user signs in with. Also here: the
offline ``/docs`` and ``/redoc`` pages, the OpenAPI security scheme, and the ``GET /v1/live`` stream.
"""

from __future__ import annotations

from hexlake.console.api import router
from hexlake.console.docs import install_openapi

__all__ = ["install_openapi", "router"]
