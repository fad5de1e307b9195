"""The monitors as pure functions: numbers in, ``Alert`` values out (no I/O, no clock).

* ``volume``: robust z-score of an hour's event count against the same hour of earlier weeks
  (median and MAD, so one odd week does not hide or fake an anomaly), per event type and source.
* ``schema_drift``: property keys an event type started to carry that its schema does not declare.
* ``quarantine_spike``: the quarantined share of the hour's events, against the previous week's.
* ``freshness``: a model further behind the raw layer than allowed.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

# MAD of a normal distribution is 0.6745 sigma; dividing by it makes the score comparable to a z-score.
_MAD_TO_SIGMA = 1.4826


@dataclass(frozen=True)
class Alert:
    """One finding; ``key`` is stable for the same finding in the same window (webhook dedupe)."""

    monitor: str
    subject: str
    message: str
    value: float
    threshold: float
    window_start: str

    @property
    def key(self) -> str:
        return f"{self.monitor}|{self.subject}|{self.window_start}"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "key": self.key}


def robust_z(value: float, baseline: Sequence[float]) -> float:
    """(value - median) / (1.4826 MAD); a flat baseline uses a Poisson-like scale instead of 0."""
    median = statistics.median(baseline)
    mad = statistics.median(abs(b - median) for b in baseline)
    scale = _MAD_TO_SIGMA * mad if mad > 0 else max(1.0, median) ** 0.5
    return (value - median) / scale


def volume(counts: Mapping[tuple[str, str], float], baselines: Mapping[tuple[str, str], Sequence[float]],
           *, z: float, min_weeks: int, window_start: str) -> list[Alert]:
    """Volume anomalies: ``counts`` of this hour and ``baselines`` (same hour, earlier weeks) per
    (event type, source); a series that stopped (0 now) counts too."""
    alerts = []
    for key in sorted(set(counts) | set(baselines)):
        base = list(baselines.get(key, ()))
        if len(base) < min_weeks:
            continue
        now = counts.get(key, 0.0)
        score = robust_z(now, base)
        if abs(score) >= z:
            kind = "spike" if score > 0 else "drop"
            alerts.append(Alert("volume", f"{key[0]}/{key[1]}",
                                f"{key[0]} from {key[1]}: {now:g} events this hour, a {kind} against "
                                f"{statistics.median(base):g} (median of the same hour in {len(base)} earlier "
                                f"weeks), robust z = {score:.1f}", round(score, 2), z, window_start))
    return alerts


def schema_drift(new_keys: Mapping[str, Iterable[str]], declared: Mapping[str, set[str] | None],
                 *, window_start: str) -> list[Alert]:
    """Keys first seen this window that the event type's schema does not declare (None: schemaless
    types, where every new key is drift)."""
    alerts = []
    for event_type, keys in sorted(new_keys.items()):
        known = declared.get(event_type) or set()
        unknown = sorted(set(keys) - known)
        if unknown:
            alerts.append(Alert("schema_drift", event_type,
                                f"{event_type} events carry new undeclared properties: {', '.join(unknown)}",
                                float(len(unknown)), 0.0, window_start))
    return alerts


def quarantine_spike(quarantined: int, accepted: int, before_quarantined: int, before_accepted: int, *,
                     rate: float, factor: float, minimum: int, window_start: str) -> list[Alert]:
    """The hour's quarantined share above ``rate`` and ``factor`` times the earlier share."""
    if quarantined < minimum:
        return []
    share = quarantined / max(quarantined + accepted, 1)
    before = before_quarantined / max(before_quarantined + before_accepted, 1)
    if share < rate or share < factor * before:
        return []
    return [Alert("quarantine_rate", "all", f"{quarantined} of {quarantined + accepted} events this hour were "
                  f"quarantined ({share:.1%}, {before:.1%} the week before)", round(share, 4), rate,
                  window_start)]


def freshness(lags: Mapping[str, float | None], *, max_lag_s: float, window_start: str) -> list[Alert]:
    """Models whose newest event time is more than ``max_lag_s`` behind the raw layer."""
    return [Alert("freshness", model, f"{model} is {lag:.0f} s behind raw_events (limit {max_lag_s:.0f} s)",
                  lag, max_lag_s, window_start)
            for model, lag in sorted(lags.items()) if lag is not None and lag > max_lag_s]


__all__ = ["Alert", "freshness", "quarantine_spike", "robust_z", "schema_drift", "volume"]
