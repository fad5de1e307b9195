"""Erase a person from every layer, with a proof report (``hexlake privacy erase``, DELETE /v1/subjects).

Order matters: the person's ``user_key`` goes on the suppression list first (nothing new of theirs
gets in while the rest runs), then the log (so the loader cannot bring rows back), then the stores
built from it. Marts are recomputed for the days the person had events (``transform.restate_range``)
so they stay equal to a from-scratch rebuild; SQLMesh's older snapshot tables are cleaned directly.
Every layer is counted before and after; ``scan.proof_scan`` then searches every store again, by
other means, for the key and the plain id.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hexlake.privacy import stores
from hexlake.privacy import warehouse as pw
from hexlake.privacy.stores import Subject
from hexlake.runtime import Runtime

log = logging.getLogger("hexlake.privacy")
Counter = Callable[[], int]


@dataclass
class LayerResult:
    layer: str
    before: int
    after: int
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"layer": self.layer, "before": self.before, "after": self.after, **({"note": self.note} if self.note
                                                                                   else {})}


@dataclass
class ErasureReport:
    user_key: str
    layers: list[LayerResult] = field(default_factory=list)
    scan: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    restated: dict[str, Any] | None = None

    @property
    def clean(self) -> bool:
        return all(v == 0 for v in self.scan.values()) and all(r.after == 0 for r in self.layers)

    def to_dict(self) -> dict[str, Any]:
        return {"user_key": self.user_key, "clean": self.clean, "seconds": round(self.seconds, 3),
                "layers": [r.to_dict() for r in self.layers], "scan": self.scan,
                "restated": self.restated}

    def to_text(self) -> str:
        lines = [f"erasure of user_key {self.user_key[:12]}… in {self.seconds:.2f} s", "",
                 f"{'layer':<28}{'before':>10}{'after':>10}"]
        lines += [f"{r.layer:<28}{r.before:>10}{r.after:>10}  {r.note}".rstrip() for r in self.layers]
        lines += ["", "proof scan (occurrences of the key or the plain id; expected 0):"]
        lines += [f"  {where:<40}{n:>8}" for where, n in sorted(self.scan.items())]
        lines += ["", "CLEAN: nothing of this person was found" if self.clean else "NOT CLEAN: see above"]
        return "\n".join(lines)


def subject_of(runtime: Runtime, user_id: str) -> Subject:
    """The person behind a plain user id, with the ``user_key`` every store uses."""
    from hexlake.privacy.hashing import Hasher
    from hexlake.privacy.secret import load_secret

    return Subject(user_id=str(user_id), user_key=Hasher(load_secret(runtime.paths.secret)).user_key(str(user_id)))


def erase(runtime: Runtime, user_id: str) -> ErasureReport:
    """Remove ``user_id``'s data from every layer and prove it (see the module docstring)."""
    from hexlake.privacy.scan import proof_scan
    from hexlake.privacy.suppression import get_suppression

    started = time.perf_counter()
    subject = subject_of(runtime, user_id)
    report = ErasureReport(user_key=subject.user_key)
    get_suppression(runtime).add(subject.user_key)
    report.layers.append(_layer("log", *_log(runtime, subject)))
    queue_logins = _extracted_logins(runtime, subject)  # read before their rows go
    report.restated, warehouse_layers = _warehouse(runtime, subject)
    report.layers += warehouse_layers
    queue_logins()
    report.layers.append(_layer("online store", *_online(runtime, subject)))
    report.layers.append(_layer("stream state and counters", *_stream(runtime, subject)))
    report.layers.append(_layer("quarantine and catalog", *_catalog(runtime, subject)))
    report.layers.append(_layer("imports and uploads", *_imports(runtime, subject)))
    report.layers.append(_layer("other data-dir stores", *_others(runtime, subject)))
    report.layers.append(_layer("ml training sets, features and cache", *_ml(runtime, subject)))
    report.scan = proof_scan(runtime, subject)
    report.seconds = time.perf_counter() - started
    log.info("erased user_key %s… in %.2f s (clean=%s)", subject.user_key[:12], report.seconds, report.clean)
    return report


def _layer(name: str, count: Counter, delete: Callable[[], Any], note: str = "") -> LayerResult:
    """Delete, then count what is left. ``delete`` returns how many rows it removed (the "before":
    it removes every match, so counting first would scan the store once more for the same number)."""
    before = delete()
    before = before if isinstance(before, int) else 0
    return LayerResult(name, before, count(), note)


def _log(runtime: Runtime, s: Subject) -> tuple[Counter, Callable[[], Any], str]:
    from hexlake.log import get_log
    from hexlake.log.protocol import as_key_eraser

    eraser = as_key_eraser(get_log(runtime))
    if eraser is None:
        return (lambda: 0), (lambda: None), f"{type(get_log(runtime)).__name__} cannot erase (no SUPPORTS_ERASE_KEY)"
    return (lambda: eraser.count_key(s.user_key)), (lambda: eraser.erase_key(s.user_key)), ""


def _warehouse(runtime: Runtime, s: Subject) -> tuple[dict[str, Any] | None, list[LayerResult]]:
    """raw and other base tables, then staging and marts recomputed, then old snapshots cleaned."""
    from hexlake.warehouse import get_warehouse

    wh = get_warehouse(runtime)
    days = pw.affected_days(wh, s.user_key)
    before = {name: n for name, n in pw.count_rows(wh, s.user_key).items()}
    pw.delete_rows(wh, s.user_key, ("main", "public"))
    restated = _restate(runtime, days)
    pw.delete_rows(wh, s.user_key, ("main", "public", "sqlmesh__", "staging", "marts"))
    after = pw.count_rows(wh, s.user_key)
    syncs = {t: pw.erase_sync_targets(wh, s.user_key, delete=False).get(t, 0) for t in pw.sync_targets(wh)}
    pw.erase_sync_targets(wh, s.user_key, delete=True)
    sync_after = pw.erase_sync_targets(wh, s.user_key, delete=False)
    out = [LayerResult(f"warehouse {name}", n, after.get(name, 0)) for name, n in sorted(before.items())]
    out += [LayerResult(f"sync {target}", n, sync_after.get(target, 0)) for target, n in syncs.items()]
    return restated, out


def _restate(runtime: Runtime, days: tuple[str, str] | None) -> dict[str, Any] | None:
    """Recompute staging and marts over the person's days (nothing if the models were never built)."""
    if days is None:
        return None
    from hexlake.transform import operations as transform_ops

    try:
        result: dict[str, Any] = transform_ops.restate_range(runtime, from_day=days[0], to_day=days[1])
    except Exception as exc:  # no models yet, or SQLMesh missing: raw is clean, marts say why
        log.warning("erase: marts not recomputed for %s..%s: %s", days[0], days[1], exc)
        return {"from_day": days[0], "to_day": days[1], "error": str(exc)}
    return {"from_day": days[0], "to_day": days[1], "ok": result.get("ok", True)}


def _extracted_logins(runtime: Runtime, s: Subject) -> Callable[[], None]:
    """Days of the logins only the extracted users tables show (``last_login_at``), read before the
    person's rows go; the returned call queues them for the next transform run like late data
    (``ops.load_touches``), so the aggregates counting those logins (active users) are recomputed."""
    import pyarrow as pa

    from hexlake.warehouse import get_warehouse, intervals

    wh = get_warehouse(runtime)
    times = pw.extracted_login_times(wh, s.user_key)

    def queue() -> None:
        if times:
            intervals.record(wh, pa.table({"ts": pa.array(times, pa.timestamp("us")),
                                           "event_type": ["login"] * len(times)}))

    return queue


def _online(runtime: Runtime, s: Subject) -> tuple[Counter, Callable[[], Any]]:
    from hexlake.features import get_online_store
    from hexlake.features.protocol import user_entity

    store = get_online_store(runtime)
    key = user_entity(s.user_key)
    url = runtime.settings.resolved_online_url()
    if url.startswith("sqlite:///"):  # deleted with secure_delete and a WAL checkpoint: bytes gone too
        path = Path(url.removeprefix("sqlite:///"))
        return (lambda: 1 if store.get(key) is not None else 0), (
            lambda: stores.sqlite_mentions(path, (s.user_key,), delete=True))
    return (lambda: 1 if store.get(key) is not None else 0), (lambda: store.delete([key]))  # how many existed


def _stream(runtime: Runtime, s: Subject) -> tuple[Counter, Callable[[], Any]]:
    """Per-group state (windows, geofence state, late events, outbox), counters, webhooks."""
    files = [p for p in stores.sqlite_files(runtime.paths.root)
             if p.parent.name == "stream" or p.name == "stream.sqlite"]
    url = runtime.settings.resolved_online_url()
    redis_url = url if url.startswith(("redis://", "rediss://")) else None

    def count() -> int:
        n = sum(stores.sqlite_mentions(p, (s.user_key,)) for p in files)
        return n + (stores.redis_mentions(redis_url, s.user_key) if redis_url else 0)

    def delete() -> int:
        n = sum(stores.sqlite_mentions(p, (s.user_key,), delete=True, skip=frozenset({"processed"})) for p in files)
        return n + (stores.redis_mentions(redis_url, s.user_key, delete=True) if redis_url else 0)

    return count, delete


def _catalog(runtime: Runtime, s: Subject) -> tuple[Counter, Callable[[], Any]]:
    """Quarantined payloads (plain ids) and anything else of the catalog naming the person."""
    path = runtime.paths.catalog_db
    keep = frozenset({"suppressed_users"})
    return (lambda: stores.sqlite_mentions(path, s.needles, skip=keep)), (
        lambda: stores.sqlite_mentions(path, s.needles, delete=True, skip=keep))


def _imports(runtime: Runtime, s: Subject) -> tuple[Counter, Callable[[], Any]]:
    db, uploads = runtime.paths.imports_db, runtime.paths.uploads
    return (lambda: len(stores.imports_of(db, s.user_key))), (lambda: stores.erase_imports(db, uploads, s.user_key))


def _ml(runtime: Runtime, s: Subject) -> tuple[Counter, Callable[[], Any]]:
    from hexlake.ml import privacy as ml_privacy

    return (lambda: ml_privacy.count(runtime, s.user_key)), (lambda: ml_privacy.erase(runtime, s.user_key))


def _others(runtime: Runtime, s: Subject) -> tuple[Counter, Callable[[], Any]]:
    """Any other SQLite file of the data dir (places, quality, stores added later): rows naming them."""
    handled = {runtime.paths.catalog_db, runtime.paths.imports_db, runtime.paths.log_db, runtime.paths.online_db}
    files = [p for p in stores.sqlite_files(runtime.paths.root) if p not in handled
             and p.parent.name != "stream" and p.name != "stream.sqlite"]

    def count() -> int:
        return sum(stores.sqlite_mentions(p, s.needles) for p in files)

    def delete() -> int:
        return sum(stores.sqlite_mentions(p, s.needles, delete=True) for p in files)

    return count, delete


__all__ = ["ErasureReport", "LayerResult", "erase", "subject_of"]
