"""The gate: decoded JSON events in, canonical ``Event`` envelopes (or reasons) out.

Per batch: shape check → schema validation (or the source's unknown-type policy) → timestamps and
skew correction → dedupe → privacy (HMAC ids, x-pii, context PII, location coarsening) → H3 →
enrichers. Every item gets exactly one outcome (accepted, duplicate, quarantined+error, or error);
bad input never raises. Pure apart from the in-memory registry lookup; the clock is injectable.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Container, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import h3
import uuid_utils
from h3.api import basic_int as h3i

from hexlake.gate import fields as f
from hexlake.gate.config import GateConfig
from hexlake.gate.dedupe import DedupeWindow
from hexlake.gate.envelope import (
    Event,
    FailureMessage,
    GateResult,
    ItemError,
    QuarantineRecord,
    SourceInfo,
)
from hexlake.gate.registry import CompiledSchema, SchemaRegistry
from hexlake.gate.scrub import Exempt, Scrubber, apply_plan, derive_email_domain, exempt_paths, pop_path
from hexlake.gate.timebounds import TimeBounds, bounds_for
from hexlake.privacy.geoip import ip_country
from hexlake.privacy.hashing import Hasher

try:  # the compiled core skips a Python wrapper per call (3+ per located event); same results
    from h3._cy import latlng_to_cell as _latlng_to_cell
except ImportError:  # pragma: no cover - other h3 builds
    _latlng_to_cell = h3i.latlng_to_cell

log = logging.getLogger(__name__)

Enricher = Callable[[list[Event]], None]
Clock = Callable[[], datetime]
Location = tuple[float, float, float | None]
UNKNOWN_POLICIES = ("accept", "quarantine", "reject")
_DEFAULT_LOCATION = ("location",)
_MAX_ID = f.MAX_ID_CHARS
_BOOL = {bool}


def _utcnow() -> datetime:
    return datetime.now(UTC)


class _Draft:
    """An item that passed the checks, waiting for dedupe and privacy."""

    __slots__ = ("anonymous_id", "compiled", "consent", "context", "event_id", "event_type", "index",
                 "loc_in_props", "location", "props", "session_id", "ts", "user_id", "user_key", "version")
    anonymous_id: str | int | None
    compiled: CompiledSchema | None
    consent: dict[str, bool]
    context: dict[str, Any] | None
    event_id: str | None
    loc_in_props: tuple[str, ...] | None
    location: Location | None
    props: dict[str, Any]
    session_id: str | None
    ts: datetime
    user_id: str | int | None
    user_key: str | None
    version: int | None

    def __init__(self, index: int, event_type: str):
        self.index = index
        self.event_type = event_type


class _Refused:
    """An item that failed: its messages, and whether it goes to quarantine (else error only)."""

    __slots__ = ("event_id", "event_type", "messages", "quarantine")

    def __init__(self, messages: list[FailureMessage], quarantine: bool, event_type: Any, event_id: Any):
        self.messages = messages
        self.quarantine = quarantine
        self.event_type = event_type if isinstance(event_type, str) else None
        self.event_id = event_id if isinstance(event_id, str) else None


class Gate:
    """Validation, dedupe, privacy and enrichment of native input events (docs/events.md)."""

    def __init__(
        self,
        registry: SchemaRegistry,
        hasher: Hasher,
        config: GateConfig,
        dedupe: DedupeWindow,
        enrichers: Sequence[Enricher] = (),
        clock: Clock = _utcnow,
        suppressed: Container[str] = frozenset(),
    ):
        self.registry = registry
        self.hasher = hasher
        self.config = config
        self.dedupe = dedupe
        self.enrichers = list(enrichers)
        self.clock = clock
        # user_keys of erased people (privacy.suppression): their events are dropped, never stored
        self.suppressed = suppressed
        self._max_skew = timedelta(seconds=config.max_clock_skew_s)
        self._time_bounds: dict[tuple[str, bool], TimeBounds] = {}
        self._coarse_res = config.coarse_h3_res
        # A coarsened point is only known to within its cell: report at least the cell's edge length.
        self._coarse_accuracy = h3.average_hexagon_edge_length(config.coarse_h3_res, "m")
        self._exempt: dict[int, Exempt | None] = {}
        self.scrubber = Scrubber(hasher)

    # -- the batch ----------------------------------------------------------------------------------

    def process(
        self,
        items: Sequence[Any],
        *,
        source: SourceInfo,
        received_at: datetime | None = None,
        sent_at: Any = None,
    ) -> GateResult:
        """Run a batch of decoded events; ``sent_at`` is the batch's client send time, if any."""
        received_at = _as_utc(received_at) if received_at else self.clock()
        batch_sent = f.parse_time(sent_at, "/sent_at", []) if sent_at is not None else None
        result = GateResult(accepted=[], duplicates=[], quarantined=[], errors=[])
        drafts = []
        check = self._check
        for index, item in enumerate(items):
            try:
                outcome = check(item, index, source, received_at, batch_sent)
            except Exception as exc:  # a bug or pathological input must cost one item, not the batch
                outcome = _unexpected(exc, index, item, "read")
            if isinstance(outcome, _Draft):
                drafts.append(outcome)
            else:
                self._refuse(result, index, item, outcome, source, received_at)
        self._dedupe(drafts, result)
        build, accepted, accepted_index = self._build, result.accepted, result.accepted_index
        for d in drafts:
            try:
                event = build(d, source, received_at)
            except Exception as exc:
                if d.event_id is not None:
                    self.dedupe.release([d.event_id])
                refused = _unexpected(exc, d.index, items[d.index], "process")
                self._refuse(result, d.index, items[d.index], refused, source, received_at)
                continue
            if event.user_key is not None and event.user_key in self.suppressed:
                result.duplicates.append(d.index)  # an erased person: answered, never stored
                continue
            accepted.append(event)
            accepted_index.append(d.index)
        enrich_h3(accepted)
        self._run_enrichers(result.accepted)
        return result

    def release(self, event_ids: Sequence[str]) -> None:
        """Forget reserved ids after a failed append, so the client's retry is not a duplicate."""
        self.dedupe.release(event_ids)

    # -- step 1-3: shape, schema, time ---------------------------------------------------------------

    def _check(
        self, item: Any, index: int, source: SourceInfo, received_at: datetime, batch_sent: datetime | None
    ) -> _Draft | _Refused:
        if type(item) is not dict:
            msg = FailureMessage(path="", keyword="type",
                                 message=f"an event must be a JSON object, got {f.type_name(item)}")
            return _Refused([msg], True, None, None)
        out: list[FailureMessage] = []
        get = item.get
        # Hot path: each field's common well-typed case is checked inline; the f.parse_* helper runs
        # only for anything else (missing, numbers, wrong types) and reports what is wrong.
        v = get("event_type")
        event_type = v if type(v) is str and 0 < len(v) <= f.MAX_TYPE_CHARS else f.parse_event_type(v, out)
        d = _Draft(index, event_type or "")
        v = get("event_id")
        if v is not None and not (type(v) is str and 0 < len(v) <= _MAX_ID):
            v = _str_or_none(f.parse_id(item, "event_id", out, numbers=False))
        d.event_id = v
        v = get("user_id")
        if v is not None and not (type(v) is str and 0 < len(v) <= _MAX_ID):
            v = f.parse_id(item, "user_id", out, numbers=True)
        d.user_id = v
        v = get("user_key") if source.internal else None
        d.user_key = v if type(v) is str and len(v) == 64 else None
        v = get("anonymous_id")
        if v is not None and not (type(v) is str and 0 < len(v) <= _MAX_ID):
            v = f.parse_id(item, "anonymous_id", out, numbers=True)
        d.anonymous_id = v
        v = get("session_id")
        if v is not None and not (type(v) is str and 0 < len(v) <= _MAX_ID):
            v = f.parse_id(item, "session_id", out, numbers=True)
        d.session_id = None if v is None else str(v)
        v = get("schema_version")
        d.version = None if v is None else f.parse_version(v, out)
        v = get("context")
        d.context = v if v is None or type(v) is dict else f.parse_object(item, "context", out)
        v = get("consent")
        if v is None:
            d.consent = {}
        elif type(v) is dict and set(map(type, v.values())) <= _BOOL:
            d.consent = v
        else:
            d.consent = f.parse_consent(v, out)
        v = get("location")
        d.location = None if v is None else f.parse_location(v, "/location", out)
        v = get("properties")
        if type(v) is dict and "traits" not in item:
            d.props, props_key = v, "properties"
        else:
            d.props, props_key = _properties(item, out)
        d.ts = self._event_time(item, received_at, batch_sent, out)
        if (bad_time := self._bounds(source).check(d.ts, received_at)) is not None:
            out.append(bad_time)
        if event_type is None:
            return _Refused(out, True, None, item.get("event_id"))
        d.compiled = self.registry.compiled(event_type, d.version)
        if d.compiled is None:
            refused = self._unknown(d, source, out)
            if refused is not None:
                return refused
        elif not d.compiled.validator.is_valid(d.props):
            self._validate(d, props_key, out)
        plan = d.compiled.plan if d.compiled is not None else None
        if ("location" in d.props or (plan is not None and (plan.location or plan.requires_location))
                or (d.context and "location" in d.context)):
            self._find_location(d, out)
        else:
            d.loc_in_props = None
        if out:
            return _Refused(out, True, event_type, item.get("event_id"))
        return d

    def _bounds(self, source: SourceInfo) -> TimeBounds:
        """The source's event-time bounds (gate.timebounds), computed once per source."""
        key = (source.name, source.historical)
        bounds = self._time_bounds.get(key)
        if bounds is None:
            bounds = self._time_bounds[key] = bounds_for(self.config, source)
        return bounds

    def _validate(self, d: _Draft, props_key: str, out: list[FailureMessage]) -> None:
        assert d.compiled is not None
        for m in d.compiled.validate(d.props):
            out.append(FailureMessage(path=f"/{props_key}{m.path}", keyword=m.keyword, message=m.message))

    def _unknown(self, d: _Draft, source: SourceInfo, out: list[FailureMessage]) -> _Refused | None:
        """No schema: a wrong version is quarantined; an unknown type follows the source's policy."""
        # (the latest-version lookup is a dict hit; listing versions only happens for a wrong version)
        if self.registry.compiled(d.event_type) is not None:
            known = self.registry.versions(d.event_type)
            f.fail(out, "/schema_version", "schema_version",
                   f"event type {d.event_type!r} has no schema version {d.version} (registered: "
                   f"{', '.join(map(str, known))}); send a registered version or register this one")
            return _Refused(out, True, d.event_type, d.event_id)
        policy = source.unknown_events
        if policy == "accept":
            return None
        f.fail(out, "/event_type", "unknownEventType",
               f"no schema is registered for event type {d.event_type!r} and source {source.name!r} "
               f"does not accept unknown events; register one with `hexlake schemas add`")
        return _Refused(out, policy != "reject", d.event_type, d.event_id)

    def _event_time(
        self,
        item: dict[str, Any],
        received_at: datetime,
        batch_sent: datetime | None,
        out: list[FailureMessage],
    ) -> datetime:
        """``received_at - (sent_at - timestamp)`` when the client's clock offset is plausible."""
        ts = f.parse_time(item.get("timestamp"), "/timestamp", out)
        if ts is None:
            return received_at
        sent = f.parse_time(item.get("sent_at"), "/sent_at", out) if "sent_at" in item else batch_sent
        if sent is not None:
            skew = received_at - sent
            if -self._max_skew <= skew <= self._max_skew:
                try:
                    return ts + skew
                except OverflowError:
                    f.fail(out, "/timestamp", "format", "timestamp is out of range")
        return ts

    def _find_location(self, d: _Draft, out: list[FailureMessage]) -> None:
        """The top-level location, else the schema's x-location field, else ``context.location``."""
        path = d.compiled.plan.location if d.compiled is not None else None
        d.loc_in_props = None
        candidate = d.props.get("location") if path is None else _at(d.props, path)
        # Without an x-location field, properties.location counts only if it looks like coordinates.
        if candidate is not None and (path is not None or _looks_like_point(candidate)):
            d.loc_in_props = path or _DEFAULT_LOCATION
            parsed = f.parse_location(candidate, "/properties/" + "/".join(d.loc_in_props), out)
            d.location = d.location or parsed
        if d.location is None and d.context and _looks_like_point(d.context.get("location")):
            d.location = f.parse_location(d.context["location"], "/context/location", [])
        if d.location is None and d.compiled is not None and d.compiled.plan.requires_location:
            f.fail(out, "/location", "required",
                   f"a {d.event_type} needs a location: top-level \"location\" {{lat, lng}} or properties")

    # -- step 4: dedupe -------------------------------------------------------------------------------

    def _dedupe(self, drafts: list[_Draft], result: GateResult) -> None:
        """Drop drafts whose client id was seen (in the window or earlier in this batch)."""
        with_ids = [d for d in drafts if d.event_id is not None]
        if not with_ids:
            return
        fresh = self.dedupe.reserve([d.event_id for d in with_ids if d.event_id is not None])
        dup = {id(d) for d, ok in zip(with_ids, fresh, strict=True) if not ok}
        if dup:
            result.duplicates.extend(d.index for d in drafts if id(d) in dup)
            drafts[:] = [d for d in drafts if id(d) not in dup]

    # -- step 5: privacy and the envelope ------------------------------------------------------------

    def _build(self, d: _Draft, source: SourceInfo, received_at: datetime) -> Event:
        hasher = self.hasher
        props = d.props
        if d.loc_in_props is not None:
            if len(d.loc_in_props) == 1:  # the usual properties.location: a shallow copy is enough
                top = d.loc_in_props[0]
                props = {k: v for k, v in props.items() if k != top}
            else:
                props, _ = pop_path(props, d.loc_in_props)
        props = derive_email_domain(props)
        compiled = d.compiled
        if compiled is not None and compiled.plan.has_pii:
            props = apply_plan(props, compiled.plan, hasher)
        policy = self._policy(compiled, source)
        props = self.scrubber.properties(props, policy=policy, exempt=self._exempt_paths(compiled),
                                         person=d.event_type == "identify")
        lat = lng = acc = None
        if d.location is not None:
            lat, lng, acc = self._coarsen(d.location, d.consent)
        return Event(
            event_id=d.event_id or str(uuid_utils.uuid7()),
            event_type=d.event_type,
            schema_version=compiled.version if compiled is not None else (d.version or 0),
            source=source.name,
            ts=d.ts,
            received_at=received_at,
            user_key=d.user_key if d.user_id is None else hasher.user_key(d.user_id),
            anonymous_key=None if d.anonymous_id is None else hasher.user_key(d.anonymous_id),
            session_id=d.session_id,
            properties=props,
            context=self._context(d.context, source, policy),
            lat=lat,
            lng=lng,
            accuracy_m=acc,
            consent=d.consent,
            retention=compiled.plan.retention if compiled is not None else None,
        )

    def _context(self, raw: dict[str, Any] | None, source: SourceInfo, policy: str) -> dict[str, Any]:
        """Scrubbed context; with ``source.geoip`` the IP becomes ``geo_ip.country`` before it is dropped."""
        if not raw:
            return {}
        context = self.scrubber.context(raw, policy=policy)
        if source.geoip:
            country = ip_country(raw.get("ip"))
            if country is not None:
                context = {**context, "geo_ip": {"country": country}}
        return context

    def _coarsen(self, loc: Location, consent: dict[str, bool]) -> Location:
        """Precise only with ``consent.precise_location is True``; else the centre of its r9 cell."""
        lat, lng, acc = loc
        if consent.get("precise_location") is True:
            return lat, lng, acc
        clat, clng = h3i.cell_to_latlng(h3i.latlng_to_cell(lat, lng, self._coarse_res))
        return clat, clng, max(acc or 0.0, self._coarse_accuracy)

    def _policy(self, compiled: CompiledSchema | None, source: SourceInfo) -> str:
        """The schema's x-pii-policy, else the source's, else the default (docs/privacy.md)."""
        if compiled is not None and compiled.plan.pii_policy is not None:
            return compiled.plan.pii_policy
        return self.config.source_pii_policy.get(source.name, self.config.pii_policy)

    def _exempt_paths(self, compiled: CompiledSchema | None) -> Exempt | None:
        if compiled is None:
            return None
        key = id(compiled)
        if key not in self._exempt:
            self._exempt[key] = exempt_paths(compiled.plan)
        return self._exempt[key]

    # -- outcomes -------------------------------------------------------------------------------------

    def _refuse(
        self, result: GateResult, index: int, item: Any, refused: _Refused, source: SourceInfo, now: datetime
    ) -> None:
        result.errors.append(ItemError(index=index, event_id=refused.event_id, messages=refused.messages))
        if refused.quarantine and not self._is_suppressed(item):
            result.quarantined.append(QuarantineRecord(
                processor="gate", source=source.name, event_type=refused.event_type,
                event_id=refused.event_id, failed_at=now, messages=refused.messages, payload=item,
            ))

    def _is_suppressed(self, item: Any) -> bool:
        """A refused item of an erased person is not quarantined either (it holds their plain id)."""
        user_id = _get(item, "user_id")
        if not self.suppressed or not isinstance(user_id, str | int) or isinstance(user_id, bool):
            return False
        return self.hasher.user_key(user_id) in self.suppressed

    def _run_enrichers(self, events: list[Event]) -> None:
        if not events:
            return
        for enricher in self.enrichers:
            try:
                enricher(events)
            except Exception:  # enrichment is best effort: the events are valid without it
                log.exception("gate: enricher %r failed; events kept without it", enricher)


def enrich_h3(events: list[Event]) -> None:
    """Set ``h3_r6/r9/r12`` (hex strings) on every event with a location, in one pass per batch.

    Each resolution comes from ``latlng_to_cell`` (not ``cell_to_parent`` of r12): H3 children are
    not nested exactly, and ~7% of parents differ from the cell a query point maps to.
    """
    to_cell = _latlng_to_cell
    for e in events:
        lat, lng = e.lat, e.lng
        if lat is not None and lng is not None:
            e.h3_r12 = f"{to_cell(lat, lng, 12):x}"
            e.h3_r9 = f"{to_cell(lat, lng, 9):x}"
            e.h3_r6 = f"{to_cell(lat, lng, 6):x}"


def _properties(item: dict[str, Any], out: list[FailureMessage]) -> tuple[dict[str, Any], str]:
    """``properties`` (alias ``data``), with identify-style ``traits`` merged under them."""
    props = f.parse_object(item, "properties", out)
    key = "properties"
    if props is None and "data" in item:
        props, key = f.parse_object(item, "data", out), "data"
    traits = f.parse_object(item, "traits", out)
    if traits:
        if props:
            return {**traits, **props}, key
        return traits, "traits"
    return props or {}, key


def _unexpected(exc: Exception, index: int, item: Any, stage: str) -> _Refused:
    log.exception("gate: unexpected error (%s) on item %d", stage, index)
    msg = FailureMessage(path="", keyword="error", message=f"the gate could not {stage} this event: {exc}")
    return _Refused([msg], True, _get(item, "event_type"), _get(item, "event_id"))


def _str_or_none(v: Any) -> str | None:
    return v if isinstance(v, str) else None


def _at(node: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if type(node) is not dict:
            return None
        node = node.get(key)
    return node


def _looks_like_point(value: Any) -> bool:
    return type(value) is dict and ("lat" in value or "latitude" in value)


def _get(item: Any, key: str) -> Any:
    return item.get(key) if isinstance(item, dict) else None


def _as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


__all__ = ["UNKNOWN_POLICIES", "Enricher", "Gate", "enrich_h3"]
