"""Running a Takeout import: inspect → (resume or start) → parse each file → deliver in batches.

Every batch goes through ``deliver`` (the gate via ``ingest`` in production) and only THEN is its
checkpoint committed. Event ids are deterministic — a UUIDv7 layout whose time is the record's event
time and whose other bits come from SHA-256(user_key + record) — so re-sent or re-imported records
are duplicates, never new rows, whatever archive they arrive in.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any, Protocol

import h3
import ijson
import orjson

from hexlake.errors import Conflict, HexlakeError, ImportRefused, is_transient
from hexlake.importers.archive import Inspection, Member, inspect_source, iter_members
from hexlake.importers.config import ImportConfig
from hexlake.importers.formats import ParseOptions
from hexlake.importers.formats._common import Record, to_epoch_ms
from hexlake.importers.store import Counts, FileRow, ImportRow, ImportStore
from hexlake.importers.streams import CountingReader, Utf8Repair

Deliver = Callable[[list[dict[str, Any]]], Counts]
_DONE_FILE = ("done", "truncated", "empty")
_RESUMABLE = ("pending", "running", "interrupted", "failed")
_NOT_IN_HASH = ("body", "subject")  # an email is the same message whether or not bodies were asked for
_MAX_48 = 2**48 - 1


@dataclass(frozen=True)
class ImportOptions:
    """Per-import choices: mail bodies (off by default) and precise location consent."""

    include_bodies: bool = False
    precise_location: bool = False


class ProgressSink(Protocol):
    """Where progress goes (a rich bar in the CLI; nothing in the server)."""

    def start(self, total_bytes: int, done_bytes: int) -> None: ...

    def update(self, done_bytes: int, records: int, path: str) -> None: ...


class NoProgress:
    def start(self, total_bytes: int, done_bytes: int) -> None:
        pass

    def update(self, done_bytes: int, records: int, path: str) -> None:
        pass


def event_id_for(record: Record, user_key: str) -> bytes:
    """16 bytes, UUIDv7 layout: 48-bit event time (ms) + 74 bits of the record's SHA-256."""
    props = record.get("properties") or {}
    if "body" in props or "subject" in props:
        record = {**record, "properties": {k: v for k, v in props.items() if k not in _NOT_IN_HASH}}
    digest = bytearray(
        hashlib.sha256(user_key.encode() + orjson.dumps(record, option=orjson.OPT_SORT_KEYS)).digest()[:16]
    )
    ms = min(max(to_epoch_ms(record.get("timestamp")) or 0, 0), _MAX_48)
    digest[0:6] = ms.to_bytes(6, "big")
    digest[6] = 0x70 | (digest[6] & 0x0F)
    digest[8] = 0x80 | (digest[8] & 0x3F)
    return bytes(digest)


def snap(loc: Any, res: int) -> Any:
    """A secondary location (``end_location``) coarsened like the gate does the main one."""
    if not isinstance(loc, dict) or not isinstance(loc.get("lat"), float | int):
        return loc
    try:
        lat, lng = h3.cell_to_latlng(h3.latlng_to_cell(loc["lat"], loc["lng"], res))
    except (h3.H3BaseException, TypeError, ValueError):
        return None
    return {"lat": round(lat, 6), "lng": round(lng, 6)}


def format_uuid(b: bytes) -> str:
    h = b.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class _HashTee:
    def __init__(self, raw: IO[bytes]):
        self.raw = raw
        self.sha = hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        self.sha.update(data)
        return data


@dataclass
class _FileState:
    """Running totals of the file being imported, for checkpoints and the progress bar."""

    row: FileRow
    counter: CountingReader
    recorded_bytes: int
    index: int = 0


class TakeoutImporter:
    """Imports Takeout exports for one user at a time into hexlake through ``deliver``."""

    def __init__(
        self,
        store: ImportStore,
        config: ImportConfig,
        deliver: Deliver,
        user_key: Callable[[str], str],
        *,
        retry_delays: tuple[float, ...] = (0.5, 1, 2, 4, 8),
        coarse_h3_res: int = 9,
    ):
        self.coarse_h3_res = coarse_h3_res
        self.store = store
        self.config = config
        self.deliver = deliver
        self.user_key = user_key
        self.retry_delays = retry_delays

    # -- entry points --------------------------------------------------------------------------

    def import_path(
        self,
        path: Path,
        user_id: str,
        options: ImportOptions,
        *,
        force: bool = False,
        progress: ProgressSink | None = None,
        upload_id: str | None = None,
        import_id: str | None = None,
    ) -> ImportRow:
        """Inspect ``path``, resume an unfinished import of the same content or start one, run it."""
        insp, import_id = self.prepare(path, user_id, options, force=force, upload_id=upload_id, import_id=import_id)
        if insp is None:
            return self.store.get(import_id)
        return self.run(import_id, insp, user_id, progress=progress)

    def prepare(
        self,
        path: Path,
        user_id: str,
        options: ImportOptions,
        *,
        force: bool = False,
        upload_id: str | None = None,
        import_id: str | None = None,
    ) -> tuple[Inspection | None, str]:
        """Check the archive (refusals are recorded, then raised) and pick the import to run.

        Returns ``(None, id)`` when the same archive was already imported completely (status
        ``skipped``; use ``force`` to read it again — its records then dedupe as duplicates).
        ``import_id`` names a row created beforehand (uploads answer with it at once).
        """
        user_key = self.user_key(str(user_id))
        path = path.absolute()  # not resolve(): a symlinked archive must still be seen (and refused)

        def new_row() -> str:
            return import_id or self.store.create(
                user_key=user_key, source_path=str(path), options=asdict(options), upload_id=upload_id
            )

        try:
            insp = inspect_source(path, self.config)
        except ImportRefused as exc:
            self.store.finish(new_row(), "refused", exc.message)
            raise
        earlier = [
            r
            for r in self.store.find(user_key=user_key, sha256=insp.sha256, source_path=str(path))
            if r.id != import_id
        ]
        resumable = next((r for r in earlier if r.status in _RESUMABLE), None)
        if resumable is not None and import_id is None:
            chosen = resumable.id
        else:
            chosen = new_row()
            done = next((r for r in earlier if r.status == "done"), None)
            if done is not None and not force and insp.sha256 is not None:
                self.store.set_inspected(chosen, kind=insp.kind, sha256=insp.sha256, archive_bytes=insp.size, files=[])
                self.store.finish(chosen, "skipped", f"this archive was already imported as {done.id}")
                return None, chosen
        self.store.set_inspected(
            chosen,
            kind=insp.kind,
            sha256=insp.sha256,
            archive_bytes=insp.size,
            files=[(m.path, m.format.name, m.size) for m in insp.members],
        )
        return insp, chosen

    def run(self, import_id: str, insp: Inspection, user_id: str, *, progress: ProgressSink | None = None) -> ImportRow:
        """Import every file not finished yet; checkpoints make a re-run continue where this stopped."""
        row = self.store.get(import_id)
        if self.user_key(str(user_id)) != row.user_key:
            raise Conflict(f"import {import_id} belongs to another user; pass the same --user", field="user")
        if not self.store.claim(import_id):
            raise Conflict(f"import {import_id} is already running in process {row.pid}", field="id")
        sink = progress or NoProgress()
        options = ImportOptions(**{k: v for k, v in row.options.items() if k in ImportOptions.__annotations__})
        files = {f.path: f for f in self.store.files(import_id)}
        todo = {p for p, f in files.items() if f.status not in _DONE_FILE}
        state = {"done": sum(f.bytes_done if f.status not in _DONE_FILE else f.size for f in files.values())}
        sink.start(sum(f.size for f in files.values()), state["done"])
        try:
            for member, raw in iter_members(insp, todo):
                self._import_file(
                    import_id, member, raw, files[member.path], user_id, row.user_key, options, sink, state
                )
        except KeyboardInterrupt:
            self.store.finish(import_id, "interrupted", "stopped by the user; run the same command to resume")
            raise
        except HexlakeError as exc:
            self.store.finish(import_id, "failed", f"{exc.message} — run the same command again to resume")
            raise
        except Exception as exc:
            self.store.finish(import_id, "failed", f"{exc} — run the same command again to resume")
            raise
        self.store.finish(import_id, "done", _summary(self.store.files(import_id)))
        return self.store.get(import_id)

    # -- one file ------------------------------------------------------------------------------

    def _import_file(
        self,
        import_id: str,
        member: Member,
        raw: IO[bytes],
        frow: FileRow,
        user_id: str,
        user_key: str,
        options: ImportOptions,
        sink: ProgressSink,
        state: dict[str, int],
    ) -> None:
        tee = _HashTee(raw)
        fs = _FileState(row=frow, counter=CountingReader(tee), recorded_bytes=frow.bytes_done)
        stream = Utf8Repair(fs.counter)
        base_done = state["done"] - frow.bytes_done
        parse_opts = ParseOptions(options.include_bodies, self.config.max_body_bytes)
        consent = {"precise_location": options.precise_location}
        context = {
            "library": {"name": "hexlake-takeout"},
            "import": {"id": import_id, "file": member.format.name},
        }
        batch: list[tuple[dict[str, Any], bytes]] = []
        status, message = "done", None
        skip = frow.records_done
        bs = self.config.batch_size
        try:
            for rec in member.format.parser(stream, parse_opts):
                fs.index += 1
                if fs.index <= skip:
                    if fs.index % bs == 0:
                        sink.update(base_done + max(fs.counter.count, fs.recorded_bytes), fs.index, member.path)
                    continue
                eid = event_id_for(rec, user_key)
                rec["event_id"] = format_uuid(eid)
                rec["user_id"] = user_id
                rec["consent"] = consent
                rec["context"] = {**context}  # one dict per event: enrichers write context.geo per event
                if not options.precise_location and "end_location" in rec["properties"]:
                    rec["properties"]["end_location"] = snap(rec["properties"]["end_location"], self.coarse_h3_res)
                batch.append((rec, eid))
                if len(batch) >= bs:
                    self._flush(import_id, member, fs, batch)
                    batch = []
                    sink.update(base_done + fs.recorded_bytes, fs.index, member.path)
        except ijson.JSONError as exc:
            status = "truncated" if fs.index or member.size else "empty"
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            message = (
                f"the JSON ends early or breaks after record {fs.index} ({reason}); "
                f"the {fs.index} complete records were imported"
            )
        if batch:
            self._flush(import_id, member, fs, batch)
        while fs.counter.read(1024 * 1024):  # finish the file hash over bytes the parser did not need
            pass
        if member.size == 0:
            status, message = "empty", "the file is empty"
        elif stream.invalid_bytes:
            message = (message + "; " if message else "") + "invalid UTF-8 bytes were replaced by U+FFFD"
        delta = max(fs.counter.count - fs.recorded_bytes, 0)
        self.store.finish_file(
            import_id,
            member.path,
            status=status,
            sha256=tee.sha.hexdigest(),
            bytes_done=fs.counter.count,
            bytes_delta=delta,
            message=message,
        )
        state["done"] = base_done + max(fs.counter.count, fs.recorded_bytes)
        sink.update(state["done"], fs.index, member.path)

    def _flush(self, import_id: str, member: Member, fs: _FileState, batch: list[tuple[dict[str, Any], bytes]]) -> None:
        """Deliver the records not delivered before, then commit the checkpoint for the batch."""
        ids = [eid for _, eid in batch]
        known = self.store.seen_subset(ids)
        fresh = [rec for rec, eid in batch if eid not in known]
        counts = self._deliver(fresh) if fresh else Counts()
        counts.duplicates += len(batch) - len(fresh)
        counts.records = len(batch)
        bytes_now = max(fs.counter.count, fs.recorded_bytes)
        self.store.checkpoint(
            import_id,
            member.path,
            records_done=fs.index,
            bytes_done=bytes_now,
            counts=counts,
            seen=[eid for eid in ids if eid not in known],
            bytes_delta=bytes_now - fs.recorded_bytes,
        )
        fs.recorded_bytes = bytes_now

    def _deliver(self, items: list[dict[str, Any]]) -> Counts:
        """``deliver`` with retries with backoff on transient failures (log busy, server restarting)."""
        for delay in (*self.retry_delays, None):
            try:
                return self.deliver(items)
            except HexlakeError as exc:
                if not is_transient(exc) or delay is None:
                    raise
                time.sleep(delay)
        raise AssertionError("unreachable")


def _summary(files: list[FileRow]) -> str:
    notes = [f"{f.path}: {f.message}" for f in files if f.message]
    return "; ".join(notes) if notes else "all files imported"


__all__ = [
    "Deliver",
    "ImportOptions",
    "NoProgress",
    "ProgressSink",
    "TakeoutImporter",
    "event_id_for",
    "format_uuid",
]
