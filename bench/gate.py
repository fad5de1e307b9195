"""Gate throughput: µs/event for decode → Gate.process → encode on 1k-event batches of mixed events.

Baseline (same run): DESIGN.md's reference loop — orjson decode, jsonschema-rs validate, HMAC with a
copied key, three H3 cells, msgspec encode — with none of the gate's checks, privacy rules or
dedupe. The gap between the two is what the gate's extra work costs.

The recursive PII scrub (issue 15, target ≤ 2 µs per event added) is measured as an A/B in the same
run: the same gate with the recursive ``Scrubber`` and with ``TopLevelScrub``, the top-level-only
scrub it replaced, alternating batch by batch so both sides see the same machine load; the added
cost is the difference of the medians of per-batch CPU time.

    .venv/bin/python -m bench.gate            # 20 batches of 1,000 events (the full run)
    .venv/bin/python -m bench.gate --quick    # smoke run

Instruction counts of the scrub alone (load-independent): run each of these under
``valgrind --tool=cachegrind --cache-sim=no``; (recursive − top_level) ``I refs`` ÷ events is the
instructions added per event (the warm-up's misses included):

    .venv/bin/python -m bench.gate --batches 12 --scrub-only recursive|top_level|none
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import hmac
import random
import statistics
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import msgspec
import orjson
from h3.api import basic_int as h3i

from bench._common import machine_info, write_result
from hexlake.gate import DedupeWindow, Gate, SchemaRegistry, SourceInfo, encode_event, enrich_h3
from hexlake.gate.config import GateConfig
from hexlake.gate.scrub import Scrubber
from hexlake.privacy import Hasher

SECRET = b"b" * 32
SOURCE = SourceInfo(name="bench")
_LOCALES = [("en-US", "America/New_York"), ("en-US", "America/Los_Angeles"), ("de-DE", "Europe/Berlin"),
            ("fr-FR", "Europe/Paris"), ("en-GB", "Europe/London"), ("ja-JP", "Asia/Tokyo")]
_DEVICES = [("ios", "iPhone15,2", "iOS", ["17.2", "17.4", "18.0"]), ("ios", "iPhone14,5", "iOS", ["16.6", "17.2"]),
            ("android", "Pixel 8", "Android", ["14"]), ("android", "SM-S918B", "Android", ["13", "14"])]


def context_of(user: int) -> dict[str, Any]:
    """A client's context, the same with each of its events: its own IP (the scrub drops it), and
    locale, app version, device and OS drawn from small pools (~500 combinations, as in a real fleet)."""
    r = random.Random(user)
    locale, tz = r.choice(_LOCALES)
    kind, model, os_name, os_versions = r.choice(_DEVICES)
    version = r.choice(["2.1.3", "2.1.4", "2.2.0"])
    return {"ip": f"198.51.{user // 250 % 256}.{user % 250 + 1}", "locale": locale, "timezone": tz,
            "app": {"name": "Places", "version": version, "build": version.replace(".", "")},
            "device": {"type": kind, "model": model}, "os": {"name": os_name, "version": r.choice(os_versions)},
            "library": {"name": "hexlake-swift" if kind == "ios" else "hexlake-kotlin", "version": "0.1.0"}}
INTERACTIONS = ["place_view", "place_save", "check_in", "visit", "rating", "directions"]


def _point(rng: random.Random) -> dict[str, float]:
    return {"lat": round(rng.uniform(37.70, 37.81), 6), "lng": round(rng.uniform(-122.52, -122.36), 6),
            "accuracy": rng.choice([5, 10, 25, 65])}


def make_event(rng: random.Random, users: int) -> dict[str, Any]:
    """One realistic event: 35% place, 15% pings, 25% track/page/screen, 10% identify/auth, 15% platform."""
    kind = rng.random()
    user = rng.randrange(users)
    base: dict[str, Any] = {
        "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "user_id": f"user-{user}",
        "session_id": f"s-{rng.randrange(10_000)}",
        "timestamp": "2024-06-01T12:00:00.000Z",
        "context": context_of(user),
        "consent": {"precise_location": rng.random() < 0.3, "analytics": True},
    }
    if kind < 0.35:
        base |= {"event_type": "place_interaction", "properties": {
            "interaction_type": rng.choice(INTERACTIONS), "place_id": rng.randrange(100_000),
            "location": _point(rng), "context": {"search_query": "italian restaurant",
                                                 "position_in_results": rng.randrange(20)}}}
    elif kind < 0.50:
        base |= {"event_type": "location_ping", "location": _point(rng),
                 "properties": {"speed_mps": 1.4, "provider": "gps", "battery_level": 0.7}}
    elif kind < 0.75:
        event_type = rng.choice(["track", "page", "screen"])
        props = {"track": {"event": "Added to list", "list": "weekend", "items": 3},
                 "page": {"name": "Home", "url": "https://example.com/", "path": "/"},
                 "screen": {"name": "PlaceDetail"}}[event_type]
        base |= {"event_type": event_type, "properties": props}
    elif kind < 0.85:
        event_type = rng.choice(["identify", "login", "signup", "logout"])
        props = {"identify": {"email": f"u{rng.randrange(users)}@example.com", "phone": "+1 415 555 0132",
                              "name": "Jane Doe", "plan": "pro"},
                 "login": {"method": "password", "mfa": True}, "signup": {"method": "oauth", "provider": "google",
                                                                         "email": "new@example.org"},
                 "logout": {"reason": "user"}}[event_type]
        base |= {"event_type": event_type, "properties": props}
    else:
        event_type = rng.choice(["payment.completed", "profile.viewed", "search.performed", "review.posted"])
        props = {"payment.completed": {"payment_id": "pay_1", "amount": 120.5, "currency": "EUR"},
                 "profile.viewed": {"profile_id": "u_2", "source": "search"},
                 "search.performed": {"query": "logo designer", "results_count": 25},
                 "review.posted": {"review_id": "r_1", "rating": 5, "target_id": "u_2"}}[event_type]
        base |= {"event_type": event_type, "properties": props}
    return base


class TopLevelScrub:
    """The gate's scrub before issue 15 (known keys at the top of properties, context at any depth
    by exact key only): the "without" side of the A/B, kept here as it was."""

    _DROP_ANYWHERE = frozenset({"ip", "ip_address", "ipAddress", "ipv4", "ipv6", "x-forwarded-for",
                                "forwarded_for", "password", "ssn", "latitude", "longitude", "lat", "lng"})
    _PERSON = frozenset({"name", "first_name", "last_name", "firstName", "lastName", "full_name", "fullName",
                         "address", "street", "birthday", "date_of_birth", "dob"})
    _CONTEXT_DROP = _DROP_ANYWHERE | _PERSON
    _PROPERTY_DROP = frozenset({"ip", "ip_address", "ipAddress", "first_name", "last_name", "firstName",
                                "lastName", "full_name", "fullName", "address", "street", "birthday",
                                "date_of_birth", "dob", "password", "ssn"})
    _HASH = frozenset({"email", "phone", "phone_number", "phoneNumber", "advertisingId", "advertising_id",
                       "idfa", "gaid"})
    _PERSON_LEVEL = _CONTEXT_DROP | _HASH
    _DEEP = _DROP_ANYWHERE | _HASH
    _PROPERTY = _PROPERTY_DROP | _HASH

    def __init__(self, hasher: Hasher):
        self.hasher = hasher

    def properties(self, props: dict[str, Any], **_: Any) -> dict[str, Any]:
        if self._PROPERTY.isdisjoint(props):
            return props
        props = dict(props)
        for key in [k for k in props if k in self._PROPERTY]:
            if key in self._PROPERTY_DROP:
                del props[key]
            else:
                props[key] = self.hasher.hash_pii(props[key], email=key == "email")
        return props

    def context(self, context: dict[str, Any], depth: int = 0, person_level: bool = True, **_: Any,
                ) -> dict[str, Any]:
        keys = self._PERSON_LEVEL if person_level else self._DEEP
        out: dict[str, Any] | None = None
        for key, value in context.items():
            new = value
            if key in keys:
                new = _DROPPED if key in self._CONTEXT_DROP else self.hasher.hash_pii(value, email=key == "email")
            elif type(value) is dict and (
                    key == "traits" or not (self._DEEP.isdisjoint(value) and dict not in map(type, value.values()))):
                new = self.context(value, depth + 1, key == "traits") if depth < 8 else _DROPPED
            if new is not value:
                out = dict(context) if out is None else out
                if new is _DROPPED:
                    del out[key]
                else:
                    out[key] = new
        return context if out is None else out


_DROPPED: Any = object()


def make_batches(n_batches: int, size: int, users: int, seed: int = 7) -> list[bytes]:
    rng = random.Random(seed)
    return [orjson.dumps([make_event(rng, users) for _ in range(size)]) for _ in range(n_batches)]


def full_gate(gate: Gate, body: bytes) -> int:
    """What the collector does per request, minus HTTP and the log: decode, gate, encode."""
    items = orjson.loads(body)
    result = gate.process(items, source=SOURCE, received_at=datetime.now(UTC))
    payloads = [encode_event(e) for e in result.accepted]
    return len(payloads)


def reference_loop(registry: SchemaRegistry) -> Callable[[bytes], int]:
    """DESIGN.md's measured reference: decode, validate, HMAC, H3 ×3, encode — nothing else."""
    base = hmac.new(SECRET, digestmod=hashlib.sha256)
    enc = msgspec.json.Encoder()

    def run(body: bytes) -> int:
        n = 0
        for item in orjson.loads(body):
            compiled = registry.compiled(item["event_type"])
            assert compiled is not None
            props = item.get("properties") or {}
            compiled.validator.is_valid(props)
            h = base.copy()
            h.update(item["user_id"].encode())
            out = {**item, "user_key": h.hexdigest()}
            loc = item.get("location") or props.get("location")
            if loc:
                out["h3"] = [format(h3i.latlng_to_cell(loc["lat"], loc["lng"], r), "x") for r in (12, 9, 6)]
            enc.encode(out)
            n += 1
        return n

    return run


def time_batches(fn: Callable[[bytes], int], batches: list[bytes]) -> dict[str, float]:
    """Wall time per event, and CPU time of this process (less sensitive to other processes' load)."""
    per_batch, cpu = [], []
    events = 0
    for body in batches:
        t0, c0 = time.perf_counter(), time.process_time()
        events += fn(body)
        per_batch.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    size = events / len(batches)
    us = [t / size * 1e6 for t in per_batch]
    total = sum(per_batch)
    return {"us_per_event_median": statistics.median(us), "us_per_event_min": min(us),
            "us_per_event_mean": total / events * 1e6, "events_per_s": events / total,
            "cpu_us_per_event_median": statistics.median(c / size * 1e6 for c in cpu)}


def step_breakdown(gate: Gate, registry: SchemaRegistry, batches: list[bytes]) -> dict[str, float]:
    """µs/event of each step in isolation, on the same events."""
    items = [e for body in batches for e in orjson.loads(body)]
    n = len(items)
    steps: dict[str, float] = {}

    def timed(name: str, fn: Callable[[], Any], count: int = n) -> Any:
        t0 = time.perf_counter()
        out = fn()
        steps[name] = (time.perf_counter() - t0) / count * 1e6
        return out

    timed("decode_orjson", lambda: [orjson.loads(b) for b in batches])
    compiled = [c for c in (registry.compiled(i["event_type"]) for i in items) if c is not None]
    pairs = list(zip(compiled, items, strict=True))
    timed("validate_jsonschema_rs", lambda: [c.validate(i.get("properties") or {}) for c, i in pairs])
    hasher = Hasher(SECRET)
    ids = [i["user_id"] for i in items]
    timed("hmac_uncached", lambda: [hasher._digest(u) for u in ids])
    timed("hmac_memo", lambda: [hasher.user_key(u) for u in ids])
    results = [gate.process(orjson.loads(b), source=SOURCE) for b in batches]
    events = [e for r in results for e in r.accepted]
    with_loc = [e for e in events if e.lat is not None]
    timed("h3_three_cells_per_located_event", lambda: enrich_h3(with_loc), max(1, len(with_loc)))
    timed("encode_event", lambda: [encode_event(e) for e in events], len(events))
    # The recursive PII scrub of properties and context (issue 15's target: ≤ 2 µs/event added).
    scrubber = gate.scrubber
    raw = [(i.get("properties") or i.get("data") or {}, i.get("context") or {}) for i in items]
    timed("pii_scrub", lambda: [(scrubber.properties(p), scrubber.context(c)) for p, c in raw])
    top = TopLevelScrub(hasher)
    timed("pii_scrub_top_level_before", lambda: [(top.properties(p), top.context(c)) for p, c in raw])
    dedupe = DedupeWindow(1_000_000)
    timed("dedupe_reserve", lambda: dedupe.reserve([i["event_id"] for i in items]))
    steps["share_with_location"] = len(with_loc) / max(1, len(events))
    return steps


def scrub_only(kind: str, batches: list[bytes]) -> None:
    """What the gate hands the scrub (properties without their location): the first 2 batches as a
    warm-up, then every batch. ``none`` only decodes, the baseline to subtract."""
    hasher = Hasher(SECRET)
    scrubber = TopLevelScrub(hasher) if kind == "top_level" else Scrubber(hasher)
    raw = []
    for item in (i for body in batches for i in orjson.loads(body)):
        props = {k: v for k, v in (item.get("properties") or {}).items() if k != "location"}
        raw.append((props, item.get("context") or {}, item["event_type"] == "identify"))
    if kind == "none":
        return
    for props, ctx, person in raw[:2 * len(raw) // len(batches)] + raw:
        scrubber.properties(props, policy="hash", exempt=None, person=person)
        scrubber.context(ctx, policy="hash")


def new_gate(registry: SchemaRegistry, *, top_level_scrub: bool = False) -> Gate:
    gate = Gate(registry, Hasher(SECRET), GateConfig(), DedupeWindow(2_000_000))
    if top_level_scrub:
        gate.scrubber = TopLevelScrub(gate.hasher)  # type: ignore[assignment]
    return gate


def scrub_ab(registry: SchemaRegistry, batches: list[bytes], warm: list[bytes], rounds: int) -> dict[str, float]:
    """The whole gate with the recursive scrub and with the top-level one, batch by batch, alternating
    which goes first: the added cost is the median of the paired per-batch differences (CPU and wall).
    Each round starts both gates afresh (their dedupe windows would refuse a batch seen before)."""
    cpu: dict[str, list[float]] = {"recursive": [], "top_level": []}
    wall: dict[str, list[float]] = {"recursive": [], "top_level": []}
    for _ in range(rounds):
        gates = {"recursive": new_gate(registry), "top_level": new_gate(registry, top_level_scrub=True)}
        for gate in gates.values():
            for body in warm:
                full_gate(gate, body)
        for i, body in enumerate(batches):
            n = len(orjson.loads(body))
            for name in (("recursive", "top_level") if i % 2 else ("top_level", "recursive")):
                t0, c0 = time.perf_counter(), time.process_time()
                full_gate(gates[name], body)
                wall[name].append((time.perf_counter() - t0) / n * 1e6)
                cpu[name].append((time.process_time() - c0) / n * 1e6)
    return {
        "rounds": rounds, "pairs": len(cpu["recursive"]),
        "recursive_cpu_us_per_event_median": statistics.median(cpu["recursive"]),
        "top_level_cpu_us_per_event_median": statistics.median(cpu["top_level"]),
        "added_cpu_us_per_event_median": statistics.median(
            r - t for r, t in zip(cpu["recursive"], cpu["top_level"], strict=True)),
        "added_wall_us_per_event_median": statistics.median(
            r - t for r, t in zip(wall["recursive"], wall["top_level"], strict=True)),
        "target_added_us_per_event": 2.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="3 batches: a smoke run, numbers not meaningful")
    parser.add_argument("--batches", type=int, default=20, help="batches of --size events (default 20)")
    parser.add_argument("--size", type=int, default=1000, help="events per batch (default 1000)")
    parser.add_argument("--users", type=int, default=5000, help="distinct user ids (memo hit rate)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the scrub A/B over the batches (default 3)")
    parser.add_argument("--scrub-only", choices=["recursive", "top_level", "none"],
                        help="only scrub the events (2 batches warm-up, then the rest): for instruction counts")
    args = parser.parse_args()
    if args.scrub_only:
        scrub_only(args.scrub_only, make_batches(args.batches, args.size, args.users))
        return
    n_batches = 3 if args.quick else args.batches
    registry = SchemaRegistry(":memory:")
    warm = make_batches(2, args.size, args.users, seed=1)
    batches = make_batches(n_batches, args.size, args.users)
    info = machine_info()

    gate = new_gate(registry)
    for body in warm:
        full_gate(gate, body)
    gc_on = time_batches(lambda b: full_gate(gate, b), batches)

    gc.collect()
    gc.freeze()  # what the server does after start-up: long-lived objects leave the GC's scans
    gate = new_gate(registry)
    for body in warm:
        full_gate(gate, body)
    frozen = time_batches(lambda b: full_gate(gate, b), batches)
    reference = time_batches(reference_loop(registry), batches)
    scrub = scrub_ab(registry, batches, warm, 1 if args.quick else args.rounds)
    steps = step_breakdown(new_gate(registry), registry, batches)
    gc.unfreeze()

    result = {
        "batch_size": args.size, "batches": n_batches, "users": args.users, "quick": args.quick,
        "gate_gc_default": gc_on, "gate_gc_frozen": frozen, "baseline_reference_loop": reference,
        "scrub_ab": scrub,
        "steps_us_per_event": steps, "target_us_per_event": 10.0,
        "load_avg_at_end": list(__import__("os").getloadavg()),
    }
    path = write_result("gate", result)
    print(f"load average at start {info['load_avg_at_start']}, end {result['load_avg_at_end']}")
    for name in ("gate_gc_default", "gate_gc_frozen", "baseline_reference_loop"):
        r = result[name]
        print(f"{name:26s} {r['us_per_event_median']:6.2f} µs/event median "
              f"({r['us_per_event_min']:.2f} min, cpu {r['cpu_us_per_event_median']:.2f})  "
              f"{r['events_per_s']:9,.0f} events/s")
    for name, value in steps.items():
        print(f"  step {name:34s} {value:6.2f}")
    print(f"recursive scrub vs top-level (same gate, alternating batches): "
          f"{scrub['recursive_cpu_us_per_event_median']:.2f} vs {scrub['top_level_cpu_us_per_event_median']:.2f} "
          f"µs/event CPU; added {scrub['added_cpu_us_per_event_median']:+.2f} CPU, "
          f"{scrub['added_wall_us_per_event_median']:+.2f} wall (target ≤ 2)")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
