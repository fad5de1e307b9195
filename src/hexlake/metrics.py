"""Prometheus metrics shared by the stages (exposed by the server at ``GET /metrics``).

Defined here, not in ``serve``, so a stage can count without importing the HTTP layer
(``collect`` counts events by outcome; ``serve.metrics`` adds the request middleware and endpoint).
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

REQUESTS = Counter("hexlake_http_requests_total", "HTTP requests", ["route", "status"])
LATENCY = Histogram(
    "hexlake_http_request_seconds", "HTTP request latency", ["route"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5),
)
EVENTS = Counter("hexlake_events_total", "Events by outcome at the collector", ["source", "outcome"])

__all__ = ["EVENTS", "LATENCY", "REQUESTS"]
