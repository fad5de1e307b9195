"""Generators for real-shaped Takeout files and archives used by the importer tests."""

from __future__ import annotations

import io
import json
import tarfile
import zipfile
from pathlib import Path
from typing import Any

BASE_MS = 1_500_000_000_000  # 2017-07-14T02:40:00Z


def location_entry(i: int, *, iso: bool = False) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "latitudeE7": 506400000 + i,
        "longitudeE7": 30500000 + i,
        "accuracy": 10 + i % 5,
        "source": "WIFI",
        "activity": [{"activity": [{"type": "STILL", "confidence": 90}], "timestampMs": str(BASE_MS)}],
    }
    ms = BASE_MS + i * 60_000
    if iso:
        entry["timestamp"] = _iso(ms)
    else:
        entry["timestampMs"] = str(ms)
    return entry


def _iso(ms: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def records_json(n: int, start: int = 0) -> bytes:
    return json.dumps({"locations": [location_entry(i) for i in range(start, start + n)]}).encode()


def semantic_json(month_visits: int = 2) -> bytes:
    objs: list[dict[str, Any]] = []
    for i in range(month_visits):
        start = BASE_MS + i * 3_600_000
        objs.append(
            {
                "placeVisit": {
                    "location": {
                        "latitudeE7": 506400000,
                        "longitudeE7": 30500000,
                        "placeId": f"P{i}",
                        "name": "Cafe",
                        "address": "1 Rue X",
                        "semanticType": "TYPE_UNKNOWN",
                    },
                    "duration": {"startTimestamp": _iso(start), "endTimestamp": _iso(start + 1_800_000)},
                    "placeConfidence": "HIGH_CONFIDENCE",
                    "visitConfidence": 90,
                }
            }
        )
        objs.append(
            {
                "activitySegment": {
                    "startLocation": {"latitudeE7": 506400000, "longitudeE7": 30500000},
                    "endLocation": {"latitudeE7": 506500000, "longitudeE7": 30600000},
                    "duration": {
                        "startTimestampMs": str(start + 1_800_000),
                        "endTimestampMs": str(start + 3_000_000),
                    },
                    "distance": 1200,
                    "activityType": "WALKING",
                    "confidence": "HIGH",
                }
            }
        )
    return json.dumps({"timelineObjects": objs}).encode()


def timeline_json() -> bytes:
    return json.dumps(
        {
            "semanticSegments": [
                {
                    "startTime": "2024-03-01T08:00:00.000+01:00",
                    "endTime": "2024-03-01T09:00:00.000+01:00",
                    "visit": {
                        "hierarchyLevel": 0,
                        "probability": 0.9,
                        "topCandidate": {
                            "placeId": "ChIJ",
                            "semanticType": "HOME",
                            "probability": 0.8,
                            "placeLocation": {"latLng": "50.64°, 3.05°"},
                        },
                    },
                },
                {
                    "startTime": "2024-03-01T09:00:00.000+01:00",
                    "endTime": "2024-03-01T09:30:00.000+01:00",
                    "activity": {
                        "start": {"latLng": "50.64°, 3.05°"},
                        "end": {"latLng": "50.65°, 3.06°"},
                        "distanceMeters": 900.5,
                        "topCandidate": {"type": "WALKING", "probability": 0.7},
                    },
                },
                {
                    "startTime": "2024-03-01T09:00:00.000+01:00",
                    "endTime": "2024-03-01T11:00:00.000+01:00",
                    "timelinePath": [
                        {"point": "50.6400000°, 3.0500000°", "time": "2024-03-01T09:01:00.000+01:00"},
                        {"point": "-33.86°, 151.2°", "time": "2024-03-01T09:02:00.000+01:00"},
                    ],
                },
            ],
            "rawSignals": [
                {
                    "position": {
                        "LatLng": "50.64°, 3.05°",
                        "accuracyMeters": 13,
                        "altitudeMeters": 40.0,
                        "source": "WIFI",
                        "timestamp": "2024-03-01T10:00:00.000+01:00",
                        "speedMetersPerSecond": 0.0,
                    }
                },
                {"wifiScan": {"deliveryTime": "2024-03-01T10:00:00.000+01:00", "devicesRecords": []}},
            ],
            "userLocationProfile": {"frequentPlaces": []},
        }
    ).encode()


def my_activity_json() -> bytes:
    return json.dumps(
        [
            {
                "header": "Search",
                "title": "Searched for hexlake data",
                "titleUrl": "https://www.google.com/search?q=hexlake+data",
                "time": "2023-05-01T10:00:00.123Z",
                "products": ["Search"],
            },
            {
                "header": "Maps",
                "title": "Used Maps",
                "titleUrl": "https://www.google.com/maps",
                "time": "2023-05-01T11:00:00Z",
                "products": ["Maps"],
            },
            {
                "header": "YouTube",
                "title": "Watched Lofi beats",
                "titleUrl": "https://www.youtube.com/watch?v=abc123",
                "subtitles": [{"name": "Lofi Channel"}],
                "time": "2023-05-01T12:00:00Z",
                "products": ["YouTube"],
            },
        ]
    ).encode()


def watch_history_json() -> bytes:
    return json.dumps(
        [
            {
                "header": "YouTube",
                "title": "Watched Cats compilation",
                "titleUrl": "https://www.youtube.com/watch?v=cat42",
                "subtitles": [{"name": "Cats", "url": "https://y/c"}],
                "time": "2023-06-01T10:00:00.5Z",
                "products": ["YouTube"],
            },
            {
                "header": "YouTube",
                "title": "Watched Ad",
                "titleUrl": "https://www.youtube.com/watch?v=ad1",
                "details": [{"name": "From Google Ads"}],
                "time": "2023-06-01T10:05:00Z",
                "products": ["YouTube"],
            },
        ]
    ).encode()


def browser_history_json() -> bytes:
    return json.dumps(
        {
            "Browser History": [
                {
                    "favicon_url": "https://x/f.ico",
                    "page_transition": "LINK",
                    "title": "Docs",
                    "url": "https://www.example.org/docs?a=1",
                    "client_id": "cid==",
                    "time_usec": 1_700_000_000_123_456,
                },
                {
                    "page_transition": "TYPED",
                    "title": "News",
                    "url": "https://news.example.com/",
                    "client_id": "cid==",
                    "time_usec": 1_700_000_100_000_000,
                },
            ]
        }
    ).encode()


def mbox_bytes(n: int = 2, body: bytes = b"Hello there\n") -> bytes:
    out = io.BytesIO()
    for i in range(n):
        out.write(b"From 1700000000000000%d@xxx Mon Jan 01 00:00:00 +0000 2024\n" % i)
        out.write(b"X-GM-THRID: 17000000000000%d\n" % i)
        out.write(b"X-Gmail-Labels: Inbox,Important,Opened\n")
        out.write(b"Date: Mon, 01 Jan 2024 10:0%d:00 +0200\n" % i)
        out.write(b"From: Alice Example <alice@Example.COM>\n")
        out.write(b"Subject: Secret plans %d\n" % i)
        out.write(b"Message-ID: <m%d@example.com>\n\n" % i)
        out.write(body)
        out.write(b">From the body, escaped\n\n")
    return out.getvalue()


def takeout_files(records: int = 5) -> dict[str, bytes]:
    """A small but complete Takeout tree: path → content."""
    return {
        "Takeout/Location History/Records.json": records_json(records),
        "Takeout/Location History/Semantic Location History/2017/2017_JULY.json": semantic_json(),
        "Takeout/Timeline.json": timeline_json(),
        "Takeout/My Activity/Search/MyActivity.json": my_activity_json(),
        "Takeout/YouTube and YouTube Music/history/watch-history.json": watch_history_json(),
        "Takeout/Chrome/BrowserHistory.json": browser_history_json(),
        "Takeout/Mail/All mail Including Spam and Trash.mbox": mbox_bytes(),
        "Takeout/archive_browser.html": b"<html></html>",
    }


def write_zip(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return path


def write_tgz(path: Path, files: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


def write_dir(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return root


def installs_json() -> bytes:
    return json.dumps([{"install": {
        "doc": {"documentType": "Android Apps", "title": "Maps"},
        "firstInstallationTime": "2021-03-01T10:00:00.000Z",
        "deviceAttribute": {"manufacturer": "Google", "deviceDisplayName": "Alice's Pixel", "carrier": "X"},
        "lastUpdateTime": "2023-01-01T00:00:00.000Z"}}]).encode()


def likes_json() -> bytes:
    return json.dumps([{"kind": "youtube#playlistItem",
                        "snippet": {"publishedAt": "2022-02-02T02:02:02Z", "title": "Liked video",
                                    "description": "d", "resourceId": {"videoId": "lk1"}},
                        "contentDetails": {"videoId": "lk1"}}]).encode()


def search_history_json() -> bytes:
    return json.dumps([{"header": "YouTube", "title": "Searched for lofi",
                        "titleUrl": "https://www.youtube.com/results?search_query=lofi",
                        "time": "2023-07-01T10:00:00Z", "products": ["YouTube"]}]).encode()


def keep_json() -> bytes:
    return json.dumps({"color": "DEFAULT", "isTrashed": False, "isPinned": True, "isArchived": False,
                       "title": "Groceries", "userEditedTimestampUsec": 1_700_000_000_000_000,
                       "createdTimestampUsec": 1_690_000_000_000_000, "labels": [{"name": "home"}],
                       "listContent": [{"text": "milk", "textHtml": "milk", "isChecked": True},
                                       {"text": "eggs", "textHtml": "eggs", "isChecked": False}]}).encode()


def comments_csv() -> bytes:
    return (b"Comment ID,Channel ID,Comment Create Timestamp,Price,Parent Comment ID,Post ID,Video ID,Comment Text\n"
            b'c1,ch,2024-01-02T03:04:05.123456+00:00,,,,v1,"{""text"":""Nice, ""},{""text"":""video\n!""}"\n'
            b"\n")


def live_chats_csv() -> bytes:
    return (b"Live Chat ID,Channel ID,Live Chat Create Timestamp,Price,Video ID,Live Chat Text\n"
            b'l1,ch,2024-02-02T03:04:05+00:00,0,v2,"{""text"":""hi all""}"\n')


def more_takeout_files() -> dict[str, bytes]:
    """Every other file google_takeout_parser recognises (newer and older names)."""
    yt = "Takeout/YouTube and YouTube Music/"
    return {
        "Takeout/Chrome/History.json": browser_history_json(),
        yt + "history/search-history.json": search_history_json(),
        yt + "playlists/likes.json": likes_json(),
        yt + "comments/comments.csv": comments_csv(),
        yt + "live chats/live chats.csv": live_chats_csv(),
        "Takeout/Google Play Store/Installs.json": installs_json(),
        "Takeout/Keep/Groceries.json": keep_json(),
        "Takeout/Keep/Groceries.html": b"<html></html>",
        "Takeout/My Activity/Maps/My Activity.json": my_activity_json(),
        "Takeout/Location History/Location History.json": records_json(2),
    }


def _cell(header: str, body: str, caption: str = "<b>Products:</b><br>&emsp;Search<br>") -> str:
    return (f'<div class="outer-cell mdl-cell mdl-cell--12-col mdl-shadow--2dp"><div class="mdl-grid">'
            f'<div class="header-cell mdl-cell mdl-cell--12-col"><p class="mdl-typography--title">{header}<br></p>'
            f'</div><div class="content-cell mdl-cell mdl-cell--6-col mdl-typography--body-1">{body}</div>'
            f'<div class="content-cell mdl-cell mdl-cell--6-col mdl-typography--body-1 '
            f'mdl-typography--text-right"></div><div class="content-cell mdl-cell mdl-cell--12-col '
            f'mdl-typography--caption">{caption}</div></div></div>')


def my_activity_html() -> bytes:
    cells = [
        _cell("Search", 'Searched for&nbsp;<a href="https://www.google.com/search?q=paris+cafes">paris cafes</a>'
                        "<br>Jan 15, 2021, 6:54:12\u202fPM CET"),
        _cell("Maps", 'Used&nbsp;<a href="https://www.google.com/maps">Maps</a><br>Jun 23, 2015, 2:43:45 PM',
              "<b>Products:</b><br>&emsp;Maps<br>"),
        _cell("Search", 'Searched for&nbsp;<a href="https://www.google.com/search?q=x">x</a>'
                        "<br>Mar 3, 2020, 1:00:00 PM XYZT"),
    ]
    return ('<!DOCTYPE html><html><head><meta charset="utf-8"></head><body><div class="mdl-grid">'
            + "".join(cells) + "</div></body></html>").encode()


def watch_history_html() -> bytes:
    body = ('Watched&nbsp;<a href="https://www.youtube.com/watch?v=html1">Cats in HTML</a><br>'
            '<a href="https://www.youtube.com/channel/UC1">Cat Channel</a><br>Feb 1, 2022, 10:00:00 AM UTC')
    return ("<html><body>" + _cell("YouTube", body, "<b>Products:</b><br>&emsp;YouTube<br>")
            + "</body></html>").encode()


def comments_html() -> bytes:
    return (b'<html><body><ul><li>Sent at 2020-04-27 23:18:23 UTC while watching '
            b'<a href="http://www.youtube.com/watch?v=mM">a video</a>.<br/>content here</li></ul></body></html>')
