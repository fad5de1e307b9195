"""Structured (one JSON object per line) logging for long-running services."""

from __future__ import annotations

import logging
import re
import sys
import time
from logging.handlers import RotatingFileHandler
from pathlib import Path

import orjson

from hexlake.serve.config import LoggingConfig

_STD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        line.update({k: v for k, v in record.__dict__.items() if k not in _STD})
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


# Routes whose path names a person (``/v1/features/users/{user_id}``, ``/v1/subjects/{user_id}…``):
# the segment after the prefix is a plain user id.
_PERSON_IN_PATH = re.compile(r"^(/v1/(?:features/users|subjects)/)[^/?#]+")


class PrivateAccessLog(logging.Filter):
    """The access log without personal data: no client address (behind a proxy it is the user's IP,
    taken from ``X-Forwarded-For``), the user id of a person's route, and emails, phones, IPs and
    identifying query values in the path redacted (``/v1/events?email=…``). Uvicorn's record args:
    client, method, path, version, status."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5:
            from hexlake.privacy.detect import redact_text, suspect

            path = _PERSON_IN_PATH.sub(r"\1[redacted]", str(args[2]))
            if suspect(path):
                path = redact_text(path, lambda _kind, _value: "[redacted]")
            record.args = ("-", args[1], path, args[3], args[4])
        return True


QUIET_LOGGERS = ("sqlmesh", "sqlglot")  # INFO there is every SQL statement of every transform run


def _handler(config: LoggingConfig, data_dir: Path | None) -> tuple[logging.Handler, Path | None]:
    if config.file is None:
        return logging.StreamHandler(sys.stderr), None
    path = config.file if config.file.is_absolute() or data_dir is None else data_dir / config.file
    path.parent.mkdir(parents=True, exist_ok=True)
    return RotatingFileHandler(path, maxBytes=config.max_bytes, backupCount=config.backups,
                               encoding="utf-8"), path


def configure_logging(config: LoggingConfig | None = None, data_dir: Path | None = None) -> Path | None:
    """One JSON format for ``serve`` and ``worker``: stderr, or a size-rotated file. Returns the file."""
    config = config or LoggingConfig()
    handler, path = _handler(config, data_dir)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    for old in root.handlers:
        old.close()
    root.handlers[:] = [handler]
    root.setLevel(config.level.upper())
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(config.sqlmesh_level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    access = logging.getLogger("uvicorn.access")
    access.filters[:] = [f for f in access.filters if not isinstance(f, PrivateAccessLog)] + [PrivateAccessLog()]
    # Remaining warnings become JSON lines, not bare stderr text. Off then on: captureWarnings(True)
    # is a no-op when an earlier call is still active, though someone (warnings.catch_warnings, as
    # pytest uses) may have put the default showwarning back since.
    logging.captureWarnings(False)
    logging.captureWarnings(True)
    # A library's dictConfig(disable_existing_loggers=True) silences loggers created before it;
    # warnings must still reach the log.
    warnings_logger = logging.getLogger("py.warnings")
    warnings_logger.disabled, warnings_logger.propagate = False, True
    return path


__all__ = ["QUIET_LOGGERS", "JsonFormatter", "PrivateAccessLog", "configure_logging"]
