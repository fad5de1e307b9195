"""My Activity JSON (searches, app & web activity), YouTube ``watch-history.json``, Chrome history."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import ijson

from hexlake.importers.formats._common import (
    ParseOptions,
    Record,
    domain_of,
    record,
    to_epoch_ms,
    usec_to_ms,
)
from hexlake.importers.streams import Readable

_SEARCH_PREFIXES = ("Searched for ", "Visited ", "Viewed ")


def _video_id(url: Any) -> str | None:
    if not isinstance(url, str):
        return None
    parts = urlsplit(url)
    if parts.netloc.endswith("youtu.be"):
        return parts.path.lstrip("/") or None
    ids = parse_qs(parts.query).get("v")
    return ids[0] if ids else None


def _first_name(items: Any) -> str | None:
    if isinstance(items, list) and items and isinstance(items[0], dict):
        name = items[0].get("name")
        return name if isinstance(name, str) else None
    return None


def youtube_watch(item: dict[str, Any]) -> Record:
    title = item.get("title") if isinstance(item.get("title"), str) else None
    details = item.get("details") or []
    is_ad = any(isinstance(d, dict) and "Ads" in str(d.get("name", "")) for d in details)
    return record(
        "youtube_watch",
        to_epoch_ms(item.get("time")),
        {
            "action": title.split(" ", 1)[0].lower() if title else None,
            "title": title.split(" ", 1)[1] if title and " " in title else title,
            "video_id": _video_id(item.get("titleUrl")),
            "channel": _first_name(item.get("subtitles")),
            "is_ad": is_ad or None,
        },
    )


def _search(item: dict[str, Any], title: str) -> Record:
    action, query = "searched", title
    for prefix in _SEARCH_PREFIXES:
        if title.startswith(prefix):
            action, query = prefix.split(" ", 1)[0].lower(), title[len(prefix) :]
            break
    return record(
        "search_activity",
        to_epoch_ms(item.get("time")),
        {"action": action, "query": query, "url_domain": domain_of(item.get("titleUrl"))},
    )


def my_activity(item: dict[str, Any]) -> Record:
    """One My Activity entry; the product is its ``header`` (``Search``, ``YouTube``, ``Maps``...)."""
    header = item.get("header") if isinstance(item.get("header"), str) else None
    raw_title = item.get("title")
    title: str = raw_title if isinstance(raw_title, str) else ""
    if header == "Search" or title.startswith("Searched for "):
        return _search(item, title)
    if header in ("YouTube", "YouTube Music") and title.startswith("Watched "):
        return youtube_watch(item)
    products = item.get("products") if isinstance(item.get("products"), list) else None
    return record(
        "app_activity",
        to_epoch_ms(item.get("time")),
        {
            "product": header,
            "action": title.split(" ", 1)[0].lower() if title else None,
            "title": title or None,
            "url_domain": domain_of(item.get("titleUrl")),
            "products": [p for p in products if isinstance(p, str)] if products else None,
        },
    )


def parse_my_activity(stream: Readable, options: ParseOptions) -> Iterator[Record]:
    """``My Activity/<Product>/MyActivity.json``: a top-level array."""
    for item in ijson.items(stream, "item", use_float=True):
        if isinstance(item, dict):
            yield my_activity(item)


def parse_watch_history(stream: Readable, options: ParseOptions) -> Iterator[Record]:
    """``YouTube and YouTube Music/history/watch-history.json``: a top-level array."""
    for item in ijson.items(stream, "item", use_float=True):
        if isinstance(item, dict):
            yield youtube_watch(item)


def browser_visit(item: dict[str, Any]) -> Record:
    url = item.get("url") if isinstance(item.get("url"), str) else None
    return record(
        "browser_visit",
        usec_to_ms(item.get("time_usec")),
        {
            "url": url,
            "domain": domain_of(url),
            "title": item.get("title") if isinstance(item.get("title"), str) else None,
            "transition": item.get("page_transition"),
        },
    )


def parse_browser_history(stream: Readable, options: ParseOptions) -> Iterator[Record]:
    """``Chrome/BrowserHistory.json``: ``{"Browser History": [...]}``."""
    for item in ijson.items(stream, "Browser History.item", use_float=True):
        if isinstance(item, dict):
            yield browser_visit(item)


__all__ = [
    "browser_visit",
    "my_activity",
    "parse_browser_history",
    "parse_my_activity",
    "parse_watch_history",
    "youtube_watch",
]
