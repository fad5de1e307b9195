"""Google Play installs, YouTube likes, comments and live chats (CSV), and Google Keep notes.

Text a person wrote (comments, chat messages, notes) is personal content: like mail bodies it is
kept only with ``include_bodies`` (cut at ``max_body_bytes``); otherwise only its length is.
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterator
from typing import Any

import ijson
import orjson

from hexlake.importers.formats._common import ParseOptions, Record, record, to_epoch_ms, usec_to_ms
from hexlake.importers.streams import Readable

_CHUNK = 256 * 1024


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def text_properties(text: str | None, options: ParseOptions) -> dict[str, Any]:
    """``text_length`` always; ``text`` (capped) only when bodies were asked for."""
    if text is None:
        return {}
    out: dict[str, Any] = {"text_length": len(text)}
    if options.include_bodies:
        out["text"] = text.encode()[: options.max_body_bytes].decode("utf-8", "ignore")
    return out


def app_install(item: dict[str, Any]) -> Record:
    install = _dict(item.get("install"))
    doc = _dict(install.get("doc"))
    device = _dict(install.get("deviceAttribute"))
    # deviceDisplayName is left out: people name phones after themselves ("Alice's Pixel").
    return record("app_install", to_epoch_ms(install.get("firstInstallationTime")), {
        "title": _str(doc.get("title")),
        "document_type": _str(doc.get("documentType")),
        "manufacturer": _str(device.get("manufacturer")),
        "last_update_at": _str(install.get("lastUpdateTime")),
    })


def parse_app_installs(stream: Readable, options: ParseOptions) -> Iterator[Record]:
    """``Google Play Store/Installs.json``: a top-level array of ``{"install": {...}}``."""
    for item in ijson.items(stream, "item", use_float=True):
        if isinstance(item, dict):
            yield app_install(item)


def youtube_like(item: dict[str, Any]) -> Record:
    snippet = _dict(item.get("snippet"))
    details = _dict(item.get("contentDetails"))
    return record("youtube_like", to_epoch_ms(snippet.get("publishedAt")), {
        "video_id": _str(details.get("videoId")),
        "title": _str(snippet.get("title")),
    })


def parse_youtube_likes(stream: Readable, options: ParseOptions) -> Iterator[Record]:
    """``YouTube and YouTube Music/playlists/likes.json``: playlist items (time = when liked)."""
    for item in ijson.items(stream, "item", use_float=True):
        if isinstance(item, dict):
            yield youtube_like(item)


def keep_note(note: dict[str, Any], options: ParseOptions) -> Record:
    edited = usec_to_ms(note.get("userEditedTimestampUsec"))
    created = usec_to_ms(note.get("createdTimestampUsec"))  # missing in exports before 2021
    items = _list(note.get("listContent"))
    labels = _list(note.get("labels"))
    text = _str(note.get("textContent")) or "\n".join(
        i["text"] for i in items if isinstance(i, dict) and isinstance(i.get("text"), str)) or None
    return record("keep_note", created if created is not None else edited, {
        "color": _str(note.get("color")),
        "is_pinned": note.get("isPinned") if isinstance(note.get("isPinned"), bool) else None,
        "is_archived": note.get("isArchived") if isinstance(note.get("isArchived"), bool) else None,
        "is_trashed": note.get("isTrashed") if isinstance(note.get("isTrashed"), bool) else None,
        "list_items": len(items) or None,
        "checked_items": sum(isinstance(i, dict) and i.get("isChecked") is True for i in items) or None,
        "labels": [lb["name"] for lb in labels if isinstance(lb, dict) and isinstance(lb.get("name"), str)] or None,
        "title": _str(note.get("title")) if options.include_bodies else None,
        **text_properties(text, options),
    })


def parse_keep_note(stream: Readable, options: ParseOptions) -> Iterator[Record]:
    """``Keep/<note>.json``: one note per file."""
    data = b"".join(iter(lambda: stream.read(_CHUNK), b""))
    if not data.strip():
        return
    try:
        note = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ijson.JSONError(str(exc)) from exc  # reported like any truncated JSON file
    if isinstance(note, dict):
        yield keep_note(note, options)


def _text_lines(stream: Readable) -> Iterator[str]:
    """Lines of a UTF-8 byte stream, newlines kept (what ``csv.reader`` needs for quoted newlines)."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    rest = ""
    while data := stream.read(_CHUNK):
        lines = (rest + decoder.decode(data)).splitlines(keepends=True)
        rest = lines.pop() if lines and not lines[-1].endswith(("\n", "\r")) else ""
        yield from lines
    if tail := rest + decoder.decode(b"", final=True):
        yield tail


def comment_text(value: str | None) -> str | None:
    """Plain text of a CSV ``Comment Text``: segments ``{"text": ...}`` (2024+) or ``takeoutSegments``."""
    if not value:
        return None
    raw = value.replace("\r", "\\r").replace("\n", "\\n")  # CSV keeps real newlines inside JSON strings
    try:
        data = orjson.loads(raw if raw.startswith("[") or "takeoutSegments" in raw else f"[{raw}]")
    except orjson.JSONDecodeError:
        return value  # not JSON: already plain text
    segments = data.get("takeoutSegments") if isinstance(data, dict) else data
    if not isinstance(segments, list):
        return None
    return "".join(s["text"] for s in segments if isinstance(s, dict) and isinstance(s.get("text"), str)) or None


def _csv_rows(stream: Readable) -> Iterator[dict[str, str]]:
    for row in csv.DictReader(_text_lines(stream)):
        if any((v or "").strip() for v in row.values() if isinstance(v, str)):
            yield row


def parse_youtube_comments(stream: Readable, options: ParseOptions) -> Iterator[Record]:
    """``YouTube and YouTube Music/comments/comments.csv``."""
    for row in _csv_rows(stream):
        yield record("youtube_comment", to_epoch_ms(row.get("Comment Create Timestamp")), {
            "comment_id": _str(row.get("Comment ID")),
            "video_id": _str(row.get("Video ID")),
            "parent_comment_id": _str((row.get("Parent Comment ID") or "").strip()),
            **text_properties(comment_text(row.get("Comment Text")), options),
        })


def parse_youtube_live_chats(stream: Readable, options: ParseOptions) -> Iterator[Record]:
    """``YouTube and YouTube Music/live chats/live chats.csv``."""
    for row in _csv_rows(stream):
        yield record("youtube_live_chat", to_epoch_ms(row.get("Live Chat Create Timestamp")), {
            "chat_id": _str(row.get("Live Chat ID")),
            "video_id": _str(row.get("Video ID")),
            **text_properties(comment_text(row.get("Live Chat Text")), options),
        })


__all__ = [
    "app_install",
    "comment_text",
    "keep_note",
    "parse_app_installs",
    "parse_keep_note",
    "parse_youtube_comments",
    "parse_youtube_likes",
    "parse_youtube_live_chats",
    "text_properties",
    "youtube_like",
]
