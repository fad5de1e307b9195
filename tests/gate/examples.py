"""One realistic, valid example of every built-in event type (also used by bench/gate.py)."""

from __future__ import annotations

from typing import Any

SEED_001: dict[str, Any] = {
    "event_type": "user_interaction",
    "timestamp": "2024-01-15T10:30:00.000Z",
    "event_id": "550e8400-e29b-41d4-a716-446655440000",
    "user_id": 12345,
    "session_id": "abc123xyz",
    "data": {
        "interaction_type": "place_view",
        "place_id": 67890,
        "location": {"lat": 37.7749, "lng": -122.4194, "accuracy": 10},
        "context": {
            "search_query": "italian restaurant",
            "recommendation_id": "rec_456",
            "position_in_results": 3,
            "device_type": "mobile",
            "app_version": "2.1.3",
        },
    },
}

MONEY = {"amount": 120.5, "currency": "EUR"}

PROPERTIES: dict[str, dict[str, Any]] = {
    "user_interaction": SEED_001["data"],
    "place_interaction": {"interaction_type": "check_in", "place_id": "p_1", "rating": 4.5},
    "location_ping": {"location": {"lat": 52.52, "lng": 13.405, "accuracy": 12}, "speed_mps": 1.2,
                      "provider": "gps", "battery_level": 0.8},
    "track": {"event": "Order Completed", "revenue": 42.0, "currency": "USD", "items": 3},
    "page": {"name": "Home", "url": "https://example.com/", "path": "/", "title": "Welcome"},
    "screen": {"name": "PlaceDetail", "category": "places"},
    "identify": {"email": "Jane.Doe@Example.com", "phone": "+1 415 555 0132", "name": "Jane Doe",
                 "first_name": "Jane", "address": {"city": "SF"}, "birthday": "1990-01-01", "plan": "pro"},
    "signup": {"method": "oauth", "provider": "google", "email": "new@example.org", "plan": "free"},
    "login": {"method": "password", "mfa": True, "ip": "203.0.113.9"},
    "logout": {"reason": "user", "session_duration_s": 360},
    "login_failed": {"method": "password", "reason": "invalid_password", "failed_attempts": 2},
    "password_reset": {"stage": "requested", "email": "jane@example.com"},
    "token_refresh": {"token_type": "access", "expires_in_s": 3600},
    "project.created": {"project_id": "proj_1", "budget": 5000, "category": "design"},
    "proposal.submitted": {"proposal_id": 11, "project_id": "proj_1", **MONEY},
    "milestone.approved": {"milestone_id": "m_1", "project_id": "proj_1", **MONEY},
    "payment.initiated": {"payment_id": "pay_1", **MONEY, "payment_method": "card"},
    "payment.completed": {"payment_id": "pay_1", **MONEY, "payment_method": "card"},
    "profile.viewed": {"profile_id": "u_2", "source": "search"},
    "search.performed": {"query": "logo designer", "results_count": 25, "search_time_ms": 31.5},
    "filter.applied": {"filter_name": "budget", "value": [100, 500]},
    "message.sent": {"conversation_id": "c_1", "message_length": 42, "body": "hi there"},
    "notification.clicked": {"notification_id": "n_1", "channel": "push"},
    "user.login": {"method": "passkey"},
    "user.logout": {},
    "session.started": {"device_type": "desktop"},
    "password.changed": {},
    "mfa.enabled": {"factor": "totp"},
    "review.posted": {"review_id": "r_1", "rating": 5, "target_id": "u_2", "text_length": 120},
    "portfolio.created": {"portfolio_id": "pf_1", "items": 4},
    "profile.updated": {"fields_changed": ["bio", "hourly_rate"]},
    "app_installed": {"version": "2.1.3", "build": 213},
    "app_opened": {"version": "2.1.3", "from_background": True},
    "app_backgrounded": {"version": "2.1.3"},
    "app_updated": {"version": "2.1.4", "previous_version": "2.1.3"},
}

CONTEXT = {
    "ip": "198.51.100.23",
    "locale": "en-US",
    "timezone": "Europe/Berlin",
    "app": {"name": "Places", "version": "2.1.3", "build": "213"},
    "device": {"type": "ios", "model": "iPhone15,2", "advertisingId": "ad-123"},
    "os": {"name": "iOS", "version": "17.2"},
    "library": {"name": "hexlake-swift", "version": "0.1.0"},
}


def example(event_type: str, **overrides: Any) -> dict[str, Any]:
    """A valid native event of ``event_type`` (properties from ``PROPERTIES``)."""
    item: dict[str, Any] = {
        "event_type": event_type,
        "event_id": f"{event_type}-1",
        "user_id": "user-42",
        "anonymous_id": "anon-7",
        "session_id": "s-1",
        "timestamp": "2024-06-01T12:00:00Z",
        "properties": dict(PROPERTIES[event_type]),
        "context": CONTEXT,
    }
    item.update(overrides)
    return item
