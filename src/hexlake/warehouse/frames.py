"""Turn a batch of log messages (encoded envelopes) into an Arrow table shaped like ``raw_events``.

Two ways, same result:

* ``fast_table``: the payloads joined as NDJSON and parsed by polars' native reader with a fixed
  schema (nested objects come back as JSON text), timestamps parsed as columns. No Python object
  per field; measured ~1.3x less CPU than DuckDB's ``from_json`` and ~2x less than msgspec + Arrow
  from Python objects (bench/log.py). It refuses (``FastPathRefused``) anything unusual.
* ``slow_table``: ``decode_event`` per message, the reference decoding. It sorts out undecodable
  payloads (poison) and accepts every valid envelope, e.g. naive timestamps (= UTC).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec
import polars as pl
import pyarrow as pa

from hexlake.gate.envelope import Event, decode_event
from hexlake.log.protocol import LogMessage
from hexlake.warehouse.schema import RAW_EVENTS_COLUMNS

_ARROW_TYPES = {"VARCHAR": pa.string(), "INTEGER": pa.int32(), "BIGINT": pa.int64(), "DOUBLE": pa.float64(),
                "TIMESTAMP": pa.timestamp("us"), "DATE": pa.date32(), "JSON": pa.string()}
#: raw_events as an Arrow schema (column order of the table).
RAW_SCHEMA = pa.schema([(name, _ARROW_TYPES[sql.split()[0]]) for name, sql in RAW_EVENTS_COLUMNS])
REQUIRED = [name for name, sql in RAW_EVENTS_COLUMNS if "NOT NULL" in sql]
JSON_FIELDS = [name for name, sql in RAW_EVENTS_COLUMNS if sql.startswith("JSON")]
TIME_FIELDS = ["ts", "received_at"]
#: The envelope fields read from the payload (everything but the loader's own columns).
ENVELOPE_FIELDS = [name for name in RAW_SCHEMA.names if name not in ("log_offset", "load_date", "loaded_at")]

_POLARS_TYPES = {pa.string(): pl.String, pa.int32(): pl.Int32, pa.float64(): pl.Float64,
                 pa.timestamp("us"): pl.String}  # timestamps are parsed after reading
_POLARS_SCHEMA = {name: _POLARS_TYPES[RAW_SCHEMA.field(name).type] for name in ENVELOPE_FIELDS}


class FastPathRefused(Exception):
    """The batch needs the per-message path (poison, or a valid but unusual envelope)."""


def fast_table(messages: Sequence[LogMessage], now: datetime) -> pa.Table:
    """Columnar decode of the whole batch; raises ``FastPathRefused`` when in doubt."""
    try:
        frame = pl.read_ndjson(io.BytesIO(b"\n".join(m.payload for m in messages)), schema=_POLARS_SCHEMA)
    except (pl.exceptions.PolarsError, ValueError, UnicodeDecodeError) as exc:
        raise FastPathRefused(str(exc)) from exc
    if frame.height != len(messages):
        raise FastPathRefused(f"{frame.height} rows for {len(messages)} payloads")
    columns = {name: frame.get_column(name) for name in ENVELOPE_FIELDS}
    for name in TIME_FIELDS:
        parsed = columns[name].str.to_datetime(time_zone="UTC", time_unit="us", strict=False)
        if parsed.null_count() != columns[name].null_count():
            raise FastPathRefused(f"{name} is not an ISO timestamp with a zone everywhere")
        columns[name] = parsed.dt.replace_time_zone(None)
    for name in JSON_FIELDS:
        text = columns[name].fill_null("{}")
        if not text.str.starts_with("{").all():
            raise FastPathRefused(f"{name} is not an object everywhere")
        columns[name] = text
    if any(columns[n].null_count() for n in REQUIRED if n in columns):
        raise FastPathRefused("a required envelope field is missing")
    arrays: dict[str, Any] = {name: columns[name].to_arrow() for name in ENVELOPE_FIELDS}
    return _finish(arrays, messages, now)


def slow_table(messages: Sequence[LogMessage], now: datetime) -> tuple[
        pa.Table, list[LogMessage], list[tuple[LogMessage, str]]]:
    """Per-message decode: (table of the good ones, good messages, [(poison message, error)])."""
    good: list[LogMessage] = []
    events: list[Event] = []
    bad: list[tuple[LogMessage, str]] = []
    for message in messages:
        try:
            events.append(decode_event(message.payload))
            good.append(message)
        except (msgspec.DecodeError, UnicodeDecodeError) as exc:
            bad.append((message, str(exc)))
    arrays: dict[str, Any] = {name: [_value(e, name) for e in events] for name in ENVELOPE_FIELDS}
    return _finish(arrays, good, now), good, bad


def sort_out_poison(messages: Sequence[LogMessage]) -> tuple[list[LogMessage], list[tuple[LogMessage, str]]]:
    """(loadable messages, [(poison message, why)]): undecodable, or an event_id unlike the log's.

    For loaders that let the engine decode the payloads (PostgreSQL ``jsonb``) and only need to know
    which messages made a batch fail.
    """
    good: list[LogMessage] = []
    bad: list[tuple[LogMessage, str]] = []
    for message in messages:
        try:
            event = decode_event(message.payload)
        except (msgspec.DecodeError, UnicodeDecodeError) as exc:
            bad.append((message, str(exc)))
            continue
        if event.event_id != message.event_id:
            bad.append((message, f"payload event_id {event.event_id!r} differs from the log's {message.event_id!r}"))
        else:
            good.append(message)
    return good, bad


def _value(event: Event, name: str) -> Any:
    value = getattr(event, name)
    if name in TIME_FIELDS:
        return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
    if name in JSON_FIELDS:
        return msgspec.json.encode(value).decode()
    return value


def _finish(arrays: dict[str, Any], messages: Sequence[LogMessage], now: datetime) -> pa.Table:
    n = len(messages)
    arrays["log_offset"] = [m.offset for m in messages]
    arrays["load_date"] = pa.array([now.date()] * n, pa.date32())
    arrays["loaded_at"] = pa.array([now] * n, pa.timestamp("us"))
    return pa.table({f.name: _array(arrays[f.name], f.type) for f in RAW_SCHEMA}, schema=RAW_SCHEMA)


def _array(values: Any, typ: pa.DataType) -> pa.Array | pa.ChunkedArray:
    if isinstance(values, pa.Array | pa.ChunkedArray):
        return values if values.type == typ else values.cast(typ)
    return pa.array(values, typ)


__all__ = ["ENVELOPE_FIELDS", "RAW_SCHEMA", "FastPathRefused", "fast_table", "slow_table", "sort_out_poison"]
