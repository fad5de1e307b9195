"""hexlake's one exception hierarchy.

Every error a user can see is a ``HexlakeError``. API errors carry an HTTP ``status`` and are
rendered by one handler (``hexlake.serve.errors``) in one JSON shape::

    {"error": {"type": "...", "message": "...", "field": "...", "details": [...]}}

The CLI prints ``Error: <message>`` and exits 1 (tracebacks only with ``--debug``).

Tree::

    HexlakeError
    ├── ConfigError                      bad settings or data dir            (Terminal)
    ├── NotInitialised                   no `hexlake init` yet               (Terminal)
    ├── ApiError (status on the class)
    │   ├── BadRequest            400    body/params wrong; names the field
    │   ├── Unauthorized          401    missing/unknown/revoked key
    │   ├── Forbidden             403    key of the wrong kind
    │   ├── NotFound              404
    │   ├── Conflict              409
    │   ├── PayloadTooLarge       413
    │   ├── UnsupportedMediaType  415
    │   ├── TooManyRequests       429    rate or concurrency limit; ``Retry-After`` header
    │   └── ServiceUnavailable    503    (Transient)
    ├── SchemaError                      a schema file is not valid JSON Schema   (Terminal)
    ├── LogError                         EventLog backend failure           (Transient)
    ├── WarehouseError                   warehouse backend failure          (Transient)
    ├── TransformError                   a SQLMesh run/audit failed         (Terminal)
    ├── TransformBusy         409        another process runs the transform (Transient)
    └── ImportRefused                    an import archive was refused      (Terminal)

``Transient`` errors are retried with backoff; ``Terminal`` ones go to quarantine/dead-letter.
``is_transient(exc)`` is the one place that decides, for hexlake errors and for driver errors
that reached a caller untranslated (a lost connection, a locked file, a serialisation conflict).
"""

from __future__ import annotations

import re
from typing import Any


class Transient:
    """Mixin: retrying later may succeed."""


class Terminal:
    """Mixin: retrying will not help; dead-letter or report."""


#: Driver errors that mean "try again later", by (module, class name) so no driver is imported here.
_TRANSIENT_DRIVER_ERRORS = frozenset({
    ("psycopg", "OperationalError"),            # connection lost, serialisation failure, deadlock
    ("redis.exceptions", "ConnectionError"),
    ("redis.exceptions", "TimeoutError"),
    ("_duckdb", "IOException"),
    ("_duckdb", "ConnectionException"),
    ("_duckdb", "TransactionException"),        # write-write conflict
})
_SQLITE_BUSY = ("database is locked", "database table is locked", "busy", "disk i/o error")


def is_transient(exc: BaseException) -> bool:
    """True if retrying the same work later may succeed; False means dead-letter or quarantine now.

    ``Transient``/``Terminal`` mixins decide first; an unmarked error inherits the nature of its
    ``__cause__`` (a backend's ``raise ... from driver_error``). Known driver errors (see
    ``_TRANSIENT_DRIVER_ERRORS``), lost connections and timeouts are transient; anything else (bad
    data, a bug) is terminal: the same input would fail the same way.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, Terminal):
            return False
        if isinstance(current, Transient) or _is_transient_driver_error(current):
            return True
        current = current.__cause__
    return False


def _is_transient_driver_error(exc: BaseException) -> bool:
    if isinstance(exc, ConnectionError | TimeoutError):
        return True
    names = {(c.__module__, c.__qualname__) for c in type(exc).__mro__}
    if ("sqlite3", "OperationalError") in names:
        return any(s in str(exc).lower() for s in _SQLITE_BUSY)
    return not names.isdisjoint(_TRANSIENT_DRIVER_ERRORS)


# The password of a URL's user info (``scheme://user:PASSWORD@host``) and libpq's ``password=…``.
_URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^\s:/@'\"]*:)[^\s@'\"]+(?=@)", re.IGNORECASE)
_KV_PASSWORD = re.compile(r"(\bpassword\s*=\s*)('[^']*'|[^\s'\"]+)", re.IGNORECASE)


def redact_secrets(text: str) -> str:
    """``text`` with every URL's password (and libpq ``password=``) replaced by ``***``: a message that
    quotes a source or warehouse URL reaches users, logs, run history, webhooks and other keys' APIs."""
    return _KV_PASSWORD.sub(r"\1***", _URL_PASSWORD.sub(r"\1***", text))


def error_body(type_: str, message: str, field: str | None = None,
               details: list[Any] | None = None) -> dict[str, Any]:
    """The one JSON error shape: ``{"error": {"type", "message", "field"?, "details"?}}``."""
    body: dict[str, Any] = {"type": type_, "message": message}
    if field is not None:
        body["field"] = field
    if details:
        body["details"] = details
    return {"error": body}


class HexlakeError(Exception):
    """Root of every hexlake error. ``message`` is written for the user."""

    status: int = 500

    def __init__(self, message: str, *, field: str | None = None, details: list[Any] | None = None):
        message = redact_secrets(message)  # messages quote URLs and drivers' errors: never a password
        super().__init__(message)
        self.message = message
        self.field = field
        self.details = details or []

    def to_body(self) -> dict[str, Any]:
        return error_body(type(self).__name__, self.message, self.field, self.details)


class ConfigError(HexlakeError, Terminal):
    status = 500


class NotInitialised(HexlakeError, Terminal):
    status = 503


class ApiError(HexlakeError):
    status = 400


class BadRequest(ApiError):
    status = 400


class Unauthorized(ApiError):
    status = 401


class Forbidden(ApiError):
    status = 403


class NotFound(ApiError):
    status = 404


class Conflict(ApiError):
    status = 409


class PayloadTooLarge(ApiError):
    status = 413


class UnsupportedMediaType(ApiError):
    status = 415


class TooManyRequests(ApiError, Transient):
    """A rate or concurrency limit; ``retry_after`` (seconds) is sent as the ``Retry-After`` header."""

    status = 429

    def __init__(self, message: str, *, retry_after: float = 1.0, field: str | None = None):
        super().__init__(message, field=field, details=[{"retry_after": retry_after}])
        self.retry_after = retry_after
        self.headers = {"Retry-After": str(max(1, int(-(-retry_after // 1))))}


class ServiceUnavailable(ApiError, Transient):
    status = 503


class SchemaError(HexlakeError, Terminal):
    status = 400


class LogError(HexlakeError, Transient):
    status = 503


class WarehouseError(HexlakeError, Transient):
    status = 503


class TransformError(HexlakeError, Terminal):
    status = 500


class TransformBusy(HexlakeError, Transient):
    """Another process holds the warehouse's transform lock (a run there is in progress)."""

    status = 409


class ImportRefused(HexlakeError, Terminal):
    status = 400


__all__ = [
    "ApiError",
    "BadRequest",
    "ConfigError",
    "Conflict",
    "Forbidden",
    "HexlakeError",
    "ImportRefused",
    "LogError",
    "NotFound",
    "NotInitialised",
    "PayloadTooLarge",
    "SchemaError",
    "ServiceUnavailable",
    "Terminal",
    "TooManyRequests",
    "TransformBusy",
    "TransformError",
    "Transient",
    "Unauthorized",
    "UnsupportedMediaType",
    "WarehouseError",
    "is_transient",
    "redact_secrets",
]
