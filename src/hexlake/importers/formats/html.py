"""The legacy HTML variants: ``My Activity.html``, ``watch-history.html`` and ``search-history.html``,
and YouTube ``my-comments``/``my-live-chat-messages`` HTML.

Streamed with the standard library's ``HTMLParser`` (fed in chunks, bounded memory). An activity
cell becomes the same dict as its JSON twin (``header``, ``title``, ``titleUrl``, ``subtitles``,
``time``, ``products``) and goes through the JSON parsers' mapping, so both exports give the same
events. HTML times are local wall-clock times with a zone abbreviation (``Jan 5, 2021, 6:54:12 PM
CET``); the abbreviation names a zone (``CET`` → Europe/Paris) whose offset on that date is used. An
unknown abbreviation leaves the record without a time, so the gate quarantines it with the reason.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from html.parser import HTMLParser
from typing import Any
from zoneinfo import ZoneInfo

from hexlake.importers.formats._common import ParseOptions, Record, record
from hexlake.importers.formats.activity import my_activity, youtube_watch
from hexlake.importers.formats.extra import text_properties
from hexlake.importers.streams import Readable

_CHUNK = 256 * 1024
_ZONES = {
    "PST": "America/Los_Angeles", "PDT": "America/Los_Angeles", "MST": "America/Denver",
    "MDT": "America/Denver", "CST": "America/Chicago", "CDT": "America/Chicago",
    "EST": "America/New_York", "EDT": "America/New_York", "AKST": "America/Anchorage",
    "AKDT": "America/Anchorage", "HST": "Pacific/Honolulu", "BRT": "America/Sao_Paulo",
    "ART": "America/Argentina/Buenos_Aires", "BST": "Europe/London", "IST": "Asia/Kolkata",
    "WET": "Europe/Lisbon", "WEST": "Europe/Lisbon", "CET": "Europe/Paris", "CEST": "Europe/Paris",
    "EET": "Europe/Athens", "EEST": "Europe/Athens", "MSK": "Europe/Moscow", "SGT": "Asia/Singapore",
    "HKT": "Asia/Hong_Kong", "JST": "Asia/Tokyo", "KST": "Asia/Seoul", "AWST": "Australia/Perth",
    "ACST": "Australia/Adelaide", "ACDT": "Australia/Adelaide", "AEST": "Australia/Sydney",
    "AEDT": "Australia/Sydney", "NZST": "Pacific/Auckland", "NZDT": "Pacific/Auckland",
}
_UTC_NAMES = {"UTC", "GMT", "Z"}
_OFFSET = re.compile(r"^(?:UTC|GMT)([+-])(\d{1,2})(?::?(\d{2}))?$")
_FORMATS = ("%b %d, %Y, %I:%M:%S %p", "%d %b %Y, %H:%M:%S", "%b %d, %Y, %H:%M:%S", "%d %b %Y, %I:%M:%S %p")
_COMMENT_TIME = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:\s*|T)(\d{2}):(\d{2}):(\d{2})")


def _zone(abbr: str) -> Any:
    if abbr in _UTC_NAMES:
        return UTC
    m = _OFFSET.match(abbr)
    if m:
        delta = timedelta(hours=int(m.group(2)), minutes=int(m.group(3) or 0))
        return timezone(-delta if m.group(1) == "-" else delta)
    name = _ZONES.get(abbr)
    return ZoneInfo(name) if name else None


def html_time(text: str) -> str | None:
    """ISO-8601 UTC of ``Jan 5, 2021, 6:54:12 PM CET`` (no zone: UTC, as old exports were); else None."""
    text = " ".join(text.replace("\u202f", " ").replace("\xa0", " ").split())
    head, _, last = text.rpartition(" ")
    candidates = [(text, UTC)] if last in ("AM", "PM") else [(head, _zone(last))]
    for value, zone in candidates:
        if zone is None:
            return None
        for fmt in _FORMATS:
            try:
                local = datetime.strptime(value, fmt)
            except ValueError:
                continue
            return local.replace(tzinfo=zone).astimezone(UTC).isoformat().replace("+00:00", "Z")
    return None


class _ActivityCells(HTMLParser):
    """Collects one dict per ``outer-cell`` div into ``done`` as the HTML streams in."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.done: list[dict[str, Any]] = []
        self._item: dict[str, Any] | None = None
        self._depth = 0  # open divs inside the current outer cell
        self._zone: str | None = None  # "header" | "body" | "caption" while inside such an element
        self._zone_depth = 0
        self._lines: list[list[Any]] = [["", None]]  # [text, first href] per <br>-separated line

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        cls = dict(attrs).get("class") or ""
        if tag == "div" and "outer-cell" in cls and self._item is None:
            self._item, self._depth = {}, 0
        if self._item is None:
            return
        if tag == "div":
            self._depth += 1
            if self._zone is None and "content-cell" in cls and "text-right" not in cls:
                zone = "caption" if "caption" in cls else "body" if "body-1" in cls else None
                self._open(zone)
        elif tag == "p" and "mdl-typography--title" in cls and self._zone is None:
            self._open("header")
        elif tag == "br" and self._zone is not None:
            self._lines.append(["", None])
        elif tag == "a" and self._zone is not None and self._lines[-1][1] is None:
            self._lines[-1][1] = dict(attrs).get("href")

    def _open(self, zone: str | None) -> None:
        self._zone, self._zone_depth, self._lines = zone, self._depth, [["", None]]

    def handle_data(self, data: str) -> None:
        if self._zone is not None:
            self._lines[-1][0] += data

    def handle_endtag(self, tag: str) -> None:
        if self._item is None:
            return
        if tag == "p" and self._zone == "header":
            self._close()
        elif tag == "div":
            if self._zone in ("body", "caption") and self._depth == self._zone_depth:
                self._close()
            self._depth -= 1
            if self._depth == 0:
                self.done.append(self._item)
                self._item = None

    def _close(self) -> None:
        assert self._item is not None
        lines = [(" ".join(t.replace("\xa0", " ").replace("\u2003", " ").split()), href)
                 for t, href in self._lines]
        lines = [(t, href) for t, href in lines if t or href]
        if self._zone == "header":
            self._item["header"] = lines[0][0] if lines else None
        elif self._zone == "body" and lines:
            self._item.update(title=lines[0][0], titleUrl=lines[0][1], time=html_time(lines[-1][0]),
                              subtitles=[{"name": t, "url": h} for t, h in lines[1:-1]])
        elif self._zone == "caption":
            self._item["products"] = [t for t, _ in lines if t and not t.endswith(":")][:10]
        self._zone = None


def _text(stream: Readable) -> Iterator[str]:
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    while data := stream.read(_CHUNK):
        yield decoder.decode(data)
    yield decoder.decode(b"", final=True)


def _cells(stream: Readable) -> Iterator[dict[str, Any]]:
    parser = _ActivityCells()
    for text in _text(stream):
        parser.feed(text)
        yield from parser.done
        parser.done.clear()
    parser.close()
    yield from parser.done


def parse_my_activity_html(stream: Readable, options: ParseOptions) -> Iterator[Record]:
    """``My Activity/<Product>/My Activity.html`` (and YouTube ``search-history.html``)."""
    for item in _cells(stream):
        yield my_activity(item)  # no readable time: no recorded_at, so the gate quarantines it


def parse_watch_history_html(stream: Readable, options: ParseOptions) -> Iterator[Record]:
    """``YouTube and YouTube Music/history/watch-history.html``."""
    for item in _cells(stream):
        yield youtube_watch(item)


class _CommentItems(HTMLParser):
    """``<li>Sent at 2020-04-27 23:18:23 UTC while watching <a href=…>a video</a>.<br/>text</li>``."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.done: list[tuple[str, str, list[str]]] = []
        self._parts: list[str] | None = None
        self._links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "li":
            self._parts, self._links = [""], []
        elif self._parts is not None and tag == "br":
            self._parts.append("")
        elif self._parts is not None and tag == "a" and dict(attrs).get("href"):
            self._links.append(str(dict(attrs)["href"]))

    def handle_data(self, data: str) -> None:
        if self._parts is not None:
            self._parts[-1] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "li" and self._parts is not None:
            head, text = self._parts[0], " ".join(self._parts[1:])
            self.done.append((head, " ".join(text.replace("\xa0", " ").split()), self._links))
            self._parts = None


def parse_comments_html(stream: Readable, options: ParseOptions) -> Iterator[Record]:
    """``my-comments/*.html`` and ``my-live-chat-messages/*.html``: times are UTC."""
    parser = _CommentItems()
    for text in _text(stream):
        parser.feed(text)
        for head, body, links in parser.done:
            at = _comment_time(head)
            video = next((v for v in map(_video_of, links) if v), None)
            yield record("youtube_comment", int(at.timestamp() * 1000) if at else None,
                         {"video_id": video, **text_properties(body or None, options)})
        parser.done.clear()


def _comment_time(text: str) -> datetime | None:
    m = _COMMENT_TIME.search(text)
    if m is None:
        return None
    y, mo, d, h, mi, sec = (int(g) for g in m.groups())
    try:
        return datetime(y, mo, d, h, mi, sec, tzinfo=UTC)
    except ValueError:
        return None


def _video_of(url: str) -> str | None:
    m = re.search(r"[?&]v=([\w-]+)", url)
    return m.group(1) if m else None


__all__ = ["html_time", "parse_comments_html", "parse_my_activity_html", "parse_watch_history_html"]
