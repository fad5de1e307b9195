"""Byte-stream wrappers used while parsing: progress counting and UTF-8 repair.

Both are plain ``read(n)`` objects so ijson (yajl2_c) and the mbox reader pull from them in chunks;
nothing here ever holds more than one chunk.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable
from typing import BinaryIO, Protocol


class Readable(Protocol):
    def read(self, n: int = -1) -> bytes: ...


class CountingReader:
    """Counts bytes read and reports them (``on_bytes(n)``) so the progress bar can follow."""

    def __init__(self, raw: Readable, on_bytes: Callable[[int], None] | None = None):
        self._raw = raw
        self._on_bytes = on_bytes
        self.count = 0

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read(n)
        self.count += len(data)
        if self._on_bytes is not None and data:
            self._on_bytes(len(data))
        return data


class Utf8Repair:
    """Yields valid UTF-8 whatever comes in: invalid bytes become U+FFFD, a leading BOM is dropped.

    yajl refuses the whole rest of a file at the first invalid byte; Takeout files written by old
    clients sometimes carry Latin-1 bytes. ``invalid_bytes`` tells the importer to report it.
    """

    _CHUNK = 256 * 1024

    def __init__(self, raw: Readable):
        self._raw = raw
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="strict")
        self._first = True
        self.invalid_bytes = False

    def read(self, n: int = -1) -> bytes:
        if n == 0:  # ijson probes with read(0) to tell bytes from text
            return b""
        data = self._raw.read(self._CHUNK if n is None or n < 0 else max(n, 4))
        final = not data
        if self._first and data:
            self._first = False
            if data.startswith(codecs.BOM_UTF8):
                data = data[3:]
        pending = self._decoder.getstate()[0]
        try:
            # Fast path: valid UTF-8 passes through byte-identical (the decoder keeps split chars).
            text = self._decoder.decode(data, final)
        except UnicodeDecodeError:
            self.invalid_bytes = True
            self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
            text = self._decoder.decode(pending + data, final)
        out = text.encode("utf-8")
        if not out and not final:
            return self.read(n)
        return out


def open_json_stream(raw: BinaryIO | Readable) -> Utf8Repair:
    return Utf8Repair(raw)


__all__ = ["CountingReader", "Readable", "Utf8Repair", "open_json_stream"]
