"""Erase a person from every layer, with a proof report (``hexlake privacy erase``, DELETE /v1/subjects).

Order matters: the person's ``user_key`` goes on the suppression list first (nothing new of theirs
gets in while the rest runs), then the log (so the loader cannot bring rows back), then the stores
built from it. In the warehouse the person's rows are deleted from every base table at once (raw,
staging and row-level marts: SQLMesh's physical tables), so the proof holds as soon as erase
returns. Aggregate marts hold no key or id, only counts that still include the person: their days
are recorded in the loader's interval log (``ops.load_touches``), and the next transform run
restates exactly those days per model, like late data (``wait=True`` runs it before returning).
Every layer reports its rows before and after; ``scan.proof_scan`` then searches every store
again, by other means, for the key and the plain id.
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
    seconds: float = 0.0
    #: proof-scan places whose findings are this layer's ``after`` (instead of counting it again)
    scan_keys: tuple[str, ...] = ()

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
    #: seconds per step (each layer, the warehouse's parts, the proof scan): where the time goes
    steps: dict[str, float] = field(default_factory=dict)

    @property
    def clean(self) -> bool:
        return all(v == 0 for v in self.scan.values()) and all(r.after == 0 for r in self.layers)

    def to_dict(self) -> dict[str, Any]:
        return {"user_key": self.user_key, "clean": self.clean, "seconds": round(self.seconds, 3),
                "layers": [r.to_dict() for r in self.layers], "scan": self.scan,
                "restated": self.restated, "step_seconds": {k: round(v, 3) for k, v in self.all_steps().items()}}

    def all_steps(self) -> dict[str, float]:
        return {**{r.layer: r.seconds for r in self.layers if r.seconds}, **self.steps}

    def to_text(self) -> str:
        lines = [f"erasure of user_key {self.user_key[:12]}… in {self.seconds:.2f} s", "",
                 f"{'layer':<28}{'before':>10}{'after':>10}"]
        lines += [f"{r.layer:<28}{r.before:>10}{r.after:>10}  {r.note}".rstrip() for r in self.layers]
        if self.restated:
            r, days = self.restated, self.restated["days"]
            lines += ["", f"aggregate marts: {r['status']} for {len(days)} day(s) {days[0]}..{days[-1]}"
                      + (" (restated by the next transform run)" if r["status"] == "queued" else "")]
        lines += ["", "proof scan (occurrences of the key or the plain id; expected 0):"]
        lines += [f"  {where:<40}{n:>8}" for where, n in sorted(self.scan.items())]
        lines += ["", "CLEAN: nothing of this person was found" if self.clean else "NOT CLEAN: see above"]
        return "\n".join(lines)


def subject_of(runtime: Runtime, user_id: str) -> Subject:
    """The person behind a plain user id, with the ``user_key`` every store uses."""
    from hexlake.privacy.hashing import Hasher
    from hexlake.privacy.secret import load_secret

    return Subject(user_id=str(user_id), user_key=Hasher(load_secret(runtime.paths.secret)).user_key(str(user_id)))


def erase(runtime: Runtime, user_id: str, *, wait: bool = False) -> ErasureReport:
    """Remove ``user_id``'s data from every layer and prove it (see the module docstring).

    ``wait`` recomputes the aggregate marts of the person's days before returning, instead of
    leaving them to the next transform run."""
    from hexlake.privacy.scan import proof_scan
    from hexlake.privacy.suppression import get_suppression

    started = time.perf_counter()
    subject = subject_of(runtime, user_id)
    report = ErasureReport(user_key=subject.user_key)
    get_suppression(runtime).add(subject.user_key)
    report.layers.append(_layer("log", *_log(runtime, subject)))
    queue_logins = _extracted_logins(runtime, subject)  # read before their rows go
    report.restated, warehouse_layers = _warehouse(runtime, subject, wait=wait, steps=report.steps)
    report.layers += warehouse_layers
    queue_logins()
    report.layers.append(_layer("online store", *_online(runtime, subject)))
    report.layers.append(_layer("stream state and counters", *_stream(runtime, subject)))
    report.layers.append(_layer("quarantine and catalog", *_catalog(runtime, subject)))
    report.layers.append(_layer("imports and uploads", *_imports(runtime, subject)))
    report.layers.append(_layer("other data-dir stores", *_others(runtime, subject)))
    report.layers.append(_layer("ml training sets, features and cache", *_ml(runtime, subject)))
    t0 = time.perf_counter()
    report.scan = proof_scan(runtime, subject)
    report.steps["proof scan"] = time.perf_counter() - t0
    for r in report.layers:  # what is left is what the independent scan found there
        if r.scan_keys:
            r.after = sum(n for k, n in report.scan.items() if k.startswith(r.scan_keys))
    report.seconds = time.perf_counter() - started
    log.info("erased user_key %s… in %.2f s (clean=%s)", subject.user_key[:12], report.seconds, report.clean)
    return report


def _layer(name: str, count: Counter | None, delete: Callable[[], Any], note: str = "",
           scan_keys: tuple[str, ...] = ()) -> LayerResult:
    """Delete, then count what is left. ``delete`` returns how many rows it removed (the "before":
    it removes every match, so counting first would scan the store once more for the same number).
    With ``scan_keys`` (and no ``count``), what is left is what the proof scan finds there: a large
    store (the log, stream state) is then read once after the delete, not twice."""
    t0 = time.perf_counter()
    before = delete()
    before = before if isinstance(before, int) else 0
    after = count() if count is not None else 0
    return LayerResult(name, before, after, note, seconds=time.perf_counter() - t0, scan_keys=scan_keys)


def _log(runtime: Runtime, s: Subject) -> tuple[Counter | None, Callable[[], Any], str, tuple[str, ...]]:
    """After: the proof scan's search of the log (the SQLite file byte by byte, else the backend's
    ``count_key``; a backend that cannot erase counts as a finding there)."""
    from hexlake.log import get_log
    from hexlake.log.protocol import as_key_eraser

    log_file = runtime.paths.log_db
    keys = (f"file {log_file.relative_to(runtime.paths.root)}",) if runtime.settings.resolved_log_url().startswith(
        "sqlite:") else ("log",)
    eraser = as_key_eraser(get_log(runtime))
    if eraser is None:
        return None, (lambda: None), f"{type(get_log(runtime)).__name__} cannot erase (no SUPPORTS_ERASE_KEY)", keys
    return None, (lambda: eraser.erase_key(s.user_key)), "", keys


def _warehouse(runtime: Runtime, s: Subject, *, wait: bool, steps: dict[str, float],
               ) -> tuple[dict[str, Any] | None, list[LayerResult]]:
    """Every base table at once (raw, features, staging and row-level marts: SQLMesh's physical
    tables), so nothing of the person is left anywhere; then their days are queued for the next
    transform run (the aggregate marts' counts), or recomputed now with ``wait``; then sync targets.

    The ``after`` of these layers is filled in from the proof scan (``erase``): counting here
    would read every table a second time.
    """
    from hexlake.transform.lock import no_run_under_way
    from hexlake.warehouse import get_warehouse, intervals

    wh = get_warehouse(runtime)
    t0 = time.perf_counter()
    # no transform run, here or in another process, may write back rows it read before the delete
    with no_run_under_way(runtime.settings, purpose="erasure"):
        tables = pw.user_tables(wh)
        cur = wh.cursor()
        intervals.ensure(cur)  # outside the transaction: a failed statement would abort it
        cur.execute("BEGIN")  # all tables or none, and one commit (DuckDB: one WAL flush)
        try:
            raw, days = pw.delete_raw_events(wh, s.user_key, intervals.USER_EVENT_TYPES, tables, cur=cur)
            deleted = pw.delete_rows(wh, s.user_key, ("main", "public", "sqlmesh__", "staging", "marts"),
                                     exclude=frozenset({pw.raw_table(wh)}), tables=tables, cur=cur)
            if days:  # the loader's late-data log: the next run restates exactly these days per model
                intervals.record_days(cur, days)
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise
        if raw:
            deleted[pw.raw_table(wh)] = raw
    steps["warehouse delete"] = time.perf_counter() - t0
    built = any(schema.startswith("sqlmesh__") for schema, *_ in tables)
    restated = _restate(runtime, days, built=built, wait=wait, steps=steps)
    t0 = time.perf_counter()
    synced = pw.erase_sync_targets(wh, s.user_key, delete=True)
    steps["sync targets"] = time.perf_counter() - t0
    out = [LayerResult(f"warehouse {name}", n, 0) for name, n in sorted(deleted.items())]
    out += [LayerResult(f"sync {target}", n, 0) for target, n in synced.items()]
    return restated, out


def _restate(runtime: Runtime, days: list[tuple[Any, int, int]], *, built: bool, wait: bool,
             steps: dict[str, float]) -> dict[str, Any] | None:
    """Queued (recorded for the next run) or, with ``wait``, recomputed now by a transform run."""
    if not days:
        return None
    info: dict[str, Any] = {"days": [str(d[0]) for d in days],
                            "other_users_attributes_changed": sum(d[2] for d in days)}
    if not built:  # no models yet: the first build will not see the person
        return {**info, "status": "no models built"}
    if not wait:
        return {**info, "status": "queued"}
    from hexlake.transform import operations as transform_ops

    t0 = time.perf_counter()
    try:
        result: dict[str, Any] = transform_ops.run(runtime, trigger="erase")
    except Exception as exc:  # the days stay recorded: the next run restates them
        log.warning("erase: marts not recomputed for %s days (queued for the next run): %s", len(days), exc)
        return {**info, "status": "queued", "error": str(exc)}
    finally:
        steps["restate (wait)"] = time.perf_counter() - t0
    return {**info, "status": "done", "ok": result.get("ok", True)}


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


def _stream(runtime: Runtime, s: Subject) -> tuple[Counter | None, Callable[[], Any], str, tuple[str, ...]]:
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

    if redis_url:  # Redis keys are counted here: the scan's Redis count is the online store's too
        return count, delete, "", ()
    # the files are searched byte by byte by the proof scan (late events can make them large)
    return None, delete, "", tuple(f"file {p.relative_to(runtime.paths.root)}" for p in files)


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
