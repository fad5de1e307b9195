"""Gmail ``.mbox``: one ``email_header`` record per message, read line by line in bounded memory.

Headers only by default: date, sender domain (hashed by the gate: ``x-pii: hash``), Gmail labels,
thread id, Message-ID (hashed) and size. Subject and body are read only with ``include_bodies``,
and the body is cut at ``max_body_bytes``; attachments are never kept.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC
from email.parser import BytesHeaderParser
from email.utils import parseaddr, parsedate_to_datetime
from typing import Any

from hexlake.importers.formats._common import ParseOptions, Record, record
from hexlake.importers.streams import Readable

_MAX_LINE = 1024 * 1024
_MAX_HEADER = 256 * 1024
_CHUNK = 256 * 1024


def _lines(stream: Readable) -> Iterator[tuple[bool, bytes]]:
    """``(starts_a_line, piece)``; pieces of over-long lines come in bounded fragments."""
    buf = b""
    at_start = True
    while True:
        data = stream.read(_CHUNK)
        if not data:
            break
        buf += data
        start = 0
        while True:
            nl = buf.find(b"\n", start)
            if nl < 0:
                break
            yield at_start, buf[start : nl + 1]
            at_start, start = True, nl + 1
        buf = buf[start:]
        if len(buf) > _MAX_LINE:
            yield at_start, buf
            at_start, buf = False, b""
    if buf:
        yield at_start, buf


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return str(value).encode("utf-8", "replace").decode("utf-8").strip() or None


def _epoch_ms(value: Any) -> int | None:
    try:
        dt = parsedate_to_datetime(str(value))
    except (TypeError, ValueError, IndexError):
        return None
    if dt.tzinfo is None:  # "-0000" means UTC with no known zone
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


class _Message:
    def __init__(self) -> None:
        self.header = bytearray()
        self.in_header = True
        self.size = 0
        self.body = bytearray()

    def add(self, piece: bytes, options: ParseOptions) -> None:
        self.size += len(piece)
        if self.in_header:
            if piece in (b"\n", b"\r\n"):
                self.in_header = False
            elif len(self.header) < _MAX_HEADER:
                self.header += piece
        elif options.include_bodies and len(self.body) < options.max_body_bytes:
            self.body += piece[: options.max_body_bytes - len(self.body)]

    def to_record(self, options: ParseOptions) -> Record:
        h = BytesHeaderParser().parsebytes(bytes(self.header))
        sender = parseaddr(_text(h.get("From")) or "")[1]
        labels = _text(h.get("X-Gmail-Labels"))
        props: dict[str, Any] = {
            "sender_domain": sender.rsplit("@", 1)[1].lower() if "@" in sender else None,
            "labels": [x.strip() for x in labels.split(",") if x.strip()] if labels else None,
            "thread_id": _text(h.get("X-GM-THRID")),
            "message_id": _text(h.get("Message-ID")),
            "size_bytes": self.size,
        }
        if options.include_bodies:
            props["subject"] = _text(h.get("Subject"))
            props["body"] = bytes(self.body).decode("utf-8", "replace")
        return record("email_header", _epoch_ms(h.get("Date")), props)


def parse_mbox(stream: Readable, options: ParseOptions) -> Iterator[Record]:
    """Messages start at a line beginning ``From `` (mboxrd escapes such body lines as ``>From``)."""
    msg: _Message | None = None
    for at_start, piece in _lines(stream):
        if at_start and piece.startswith(b"From "):
            if msg is not None:
                yield msg.to_record(options)
            msg = _Message()
            continue
        if msg is not None:
            msg.add(piece, options)
    if msg is not None:
        yield msg.to_record(options)


__all__ = ["parse_mbox"]
