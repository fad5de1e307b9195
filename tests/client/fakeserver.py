"""A small real HTTP server speaking ``POST /v1/events`` with a failure script, for SDK tests.

It is not hexlake (tests/client/test_sdk_server.py runs the SDK against a real hexlake): it lets a
test answer 503/429/413 on demand and see exactly what the SDK sent on every attempt.
"""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Recorder:
    def __init__(self, script: list[int] | None = None, max_batch: int | None = None) -> None:
        self.script = list(script or [])  # statuses answered first, in order
        self.max_batch = max_batch  # answer 413 above this many events
        self.attempts: list[list[dict[str, Any]]] = []  # every request's events
        self.headers: list[dict[str, str]] = []
        self.stored: dict[str, dict[str, Any]] = {}
        self.lock = threading.Lock()

    def handle(self, headers: dict[str, str], raw: bytes) -> tuple[int, dict[str, Any], dict[str, str]]:
        if headers.get("content-encoding") == "gzip":
            raw = gzip.decompress(raw)
        body = json.loads(raw)
        events = body["batch"] if isinstance(body, dict) else body
        with self.lock:
            self.attempts.append(events)
            self.headers.append(headers)
            if self.script:
                status = self.script.pop(0)
                return status, {"error": {"type": "X", "message": f"scripted {status}"}}, {"Retry-After": "0"}
            if self.max_batch is not None and len(events) > self.max_batch:
                return 413, {"error": {"type": "PayloadTooLarge", "message": "too many"}}, {}
            accepted = duplicates = 0
            errors = []
            for i, ev in enumerate(events):
                if ev.get("event_type") == "bad":
                    errors.append({"index": i, "event_id": ev["event_id"],
                                   "messages": [{"path": "", "keyword": "x", "message": "bad event"}]})
                elif ev["event_id"] in self.stored:
                    duplicates += 1
                else:
                    self.stored[ev["event_id"]] = ev
                    accepted += 1
        return 200, {"accepted": accepted, "duplicates": duplicates, "quarantined": 0, "errors": errors}, {}


def _handler(recorder: Recorder) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("content-length", 0)))
            status, body, extra = recorder.handle({k.lower(): v for k, v in self.headers.items()}, raw)
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            for k, v in extra.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def serve(recorder: Recorder, port: int = 0) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", port), _handler(recorder))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class LossyProxy:
    """Forwards requests to ``upstream`` but, for the first ``drop`` requests, hangs up instead of
    returning the answer: the server stored the events, the client saw a network error — the case
    where only idempotent retries prevent duplicates."""

    def __init__(self, upstream: str, drop: int) -> None:
        self.upstream, self.drop, self.forwarded = upstream, drop, 0
        self.lock = threading.Lock()

    def handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                import httpx

                raw = self.rfile.read(int(self.headers.get("content-length", 0)))
                skip = {"host", "content-length", "connection"}
                headers = {k: v for k, v in self.headers.items() if k.lower() not in skip}
                answer = httpx.post(proxy.upstream + self.path, content=raw, headers=headers, timeout=30)
                with proxy.lock:
                    proxy.forwarded += 1
                    hang_up = proxy.forwarded <= proxy.drop
                if hang_up:
                    self.close_connection = True
                    return
                self.send_response(answer.status_code)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            def log_message(self, *args: Any) -> None:
                pass

        return Handler

    @contextmanager
    def serve(self) -> Iterator[str]:
        server = ThreadingHTTPServer(("127.0.0.1", 0), self.handler())
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}"
        finally:
            server.shutdown()
            server.server_close()
