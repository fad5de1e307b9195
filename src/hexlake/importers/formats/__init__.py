"""Which Takeout files hexlake reads, and how: ``classify(path)`` names the format of a member.

Anything not listed here (HTML reports, photos, settings) is left alone and not counted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from hexlake.importers.formats._common import ParseOptions, Parser, Record
from hexlake.importers.formats.activity import parse_browser_history, parse_my_activity, parse_watch_history
from hexlake.importers.formats.extra import (
    parse_app_installs,
    parse_keep_note,
    parse_youtube_comments,
    parse_youtube_likes,
    parse_youtube_live_chats,
)
from hexlake.importers.formats.html import parse_comments_html, parse_my_activity_html, parse_watch_history_html
from hexlake.importers.formats.location import parse_records, parse_semantic, parse_timeline
from hexlake.importers.formats.mbox import parse_mbox


@dataclass(frozen=True)
class Format:
    """A file kind: its ``name``, the parser, and the first bytes a real one starts with."""

    name: str
    parser: Parser
    magic: tuple[bytes, ...]


JSON_MAGIC = (b"{", b"[")
RECORDS = Format("records", parse_records, (b"{",))
SEMANTIC = Format("semantic", parse_semantic, (b"{",))
TIMELINE = Format("timeline", parse_timeline, (b"{",))
MY_ACTIVITY = Format("my_activity", parse_my_activity, (b"[",))
WATCH_HISTORY = Format("watch_history", parse_watch_history, (b"[",))
BROWSER_HISTORY = Format("browser_history", parse_browser_history, (b"{",))
MBOX = Format("mbox", parse_mbox, (b"From ",))
APP_INSTALLS = Format("app_installs", parse_app_installs, (b"[",))
YOUTUBE_LIKES = Format("youtube_likes", parse_youtube_likes, (b"[",))
KEEP_NOTE = Format("keep_note", parse_keep_note, (b"{",))
YOUTUBE_COMMENTS = Format("youtube_comments", parse_youtube_comments, (b"Comment ID",))
YOUTUBE_LIVE_CHATS = Format("youtube_live_chats", parse_youtube_live_chats, (b"Live Chat ID",))
MY_ACTIVITY_HTML = Format("my_activity_html", parse_my_activity_html, (b"<",))
WATCH_HISTORY_HTML = Format("watch_history_html", parse_watch_history_html, (b"<",))
COMMENTS_HTML = Format("comments_html", parse_comments_html, (b"<",))

_SEMANTIC_PATH = re.compile(r"(^|/)semantic location history/\d{4}/[^/]+\.json$")
_YT = r"(^|/)youtube( and youtube music)?/"
# Paths (lower-cased) as google_takeout_parser's HANDLER_MAP names them, first match wins.
_PATHS: tuple[tuple[re.Pattern[str], Format], ...] = tuple((re.compile(rx), fmt) for rx, fmt in (
    (r"(^|/)chrome/(browser)?history\.json$", BROWSER_HISTORY),  # History.json since late 2023
    (r"(^|/)google play store/installs\.json$", APP_INSTALLS),
    (r"(^|/)location history( \(timeline\))?/location ?history\.json$", RECORDS),  # before 2017
    (_YT + r"history/watch-history\.json$", WATCH_HISTORY),
    (_YT + r"history/[^/]+\.json$", MY_ACTIVITY),  # search-history.json: My Activity entries
    (_YT + r"history/watch-history\.html$", WATCH_HISTORY_HTML),
    (_YT + r"history/[^/]+\.html$", MY_ACTIVITY_HTML),
    (_YT + r"(my-comments|my-live-chat-messages)/[^/]+\.html$", COMMENTS_HTML),
    (_YT + r"comments/comments\.csv$", YOUTUBE_COMMENTS),
    (_YT + r"live ?chats/live ?chats\.csv$", YOUTUBE_LIVE_CHATS),
    (_YT + r"playlists/likes\.json$", YOUTUBE_LIKES),
    (r"(^|/)my activity/(.*/)?my ?activity\.json$", MY_ACTIVITY),
    (r"(^|/)my activity/(.*/)?my ?activity(-\d+)?\.html$", MY_ACTIVITY_HTML),  # -N: split files
    (r"(^|/)keep/[^/]+\.json$", KEEP_NOTE),
))


def classify(path: str) -> Format | None:
    """The format of archive member ``path`` (case-insensitive), or None if hexlake ignores it."""
    p = path.replace("\\", "/").lower()
    base = p.rsplit("/", 1)[-1]
    for pattern, fmt in _PATHS:
        if pattern.search(p):
            return fmt
    if base == "records.json":
        return RECORDS
    if _SEMANTIC_PATH.search(p):
        return SEMANTIC
    if base == "timeline.json":
        return TIMELINE
    if base == "myactivity.json":
        return MY_ACTIVITY
    if base == "watch-history.json":
        return WATCH_HISTORY
    if base == "browserhistory.json":
        return BROWSER_HISTORY
    if base.endswith(".mbox"):
        return MBOX
    return None


def magic_ok(fmt: Format, head: bytes) -> bool:
    """True when ``head`` (the first bytes) looks like ``fmt``; BOM and whitespace are skipped.

    An empty file is fine (it imports nothing); a PNG or zip renamed ``Records.json`` is not.
    """
    stripped = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    if not stripped:
        return True
    return any(stripped.startswith(m[: len(stripped)]) for m in fmt.magic)


__all__ = ["Format", "ParseOptions", "Parser", "Record", "classify", "magic_ok"]
