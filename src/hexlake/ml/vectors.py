"""Place vectors: an in-process ANN index (usearch HNSW, cosine) with exact search beside it.

``PlaceVectors`` keeps the vectors of place texts (``"name, category"``) in
``<data_dir>/ml/vectors/``: ``places.npy`` (float32, unit length) and ``places.json`` (ids and the
hash of each text, so only new or changed texts are embedded again); the usearch index is built in
memory from them. On a PostgreSQL warehouse ``place_vectors`` gives ``pgvectors.PgPlaceVectors``
instead (the same interface, vectors in the warehouse, searched by pgvector).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import threading
from collections.abc import Collection
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from hexlake.errors import BadRequest, HexlakeError, NotFound
from hexlake.runtime import Runtime

# HNSW settings. Issue 17 asks recall@10 >= 0.95 against exact search at 1M vectors (bench/ml.py
# --only ann). At a fixed ef, recall falls as the index grows: on the benchmark's clustered 384-d
# vectors it tracks n / ef (0.994 at 100k/64, 0.992 at 200k/128, 0.95 at 200k/64, 0.925 at 1M/256),
# so ef grows in proportion to n (docs/ml.md, "The ANN index").
CONNECTIVITY = 16  # M: links per node on the upper layers, 2M on the base layer
EXPANSION_ADD = 128  # efConstruction: the build's candidate list (its cost is about linear in it)
DTYPE = "f16"  # what the graph stores (the float32 rows re-score its candidates): see AnnIndex
EXPANSION_PER_100K = 64  # ef per 100k vectors: 640 at 1M
EXPANSION_MIN = 256  # below 400k: queries far from every stored vector need it even in small indexes
EXPANSION_MAX = 2048  # reached at 3.2M vectors; past that recall falls again (unmeasured there)
# Below this many vectors a search is brute force and the graph is never built: as fast as the graph
# (384-d: 0.31 vs 0.30 ms p50 at 10k, 0.16 vs 0.33 at 5k), exact, and no build to wait for.
EXACT_BELOW = 10_000
ORPHAN_CHECK_K = 256  # how wide a row's search for itself looks before it counts as unreachable


def expansion_search(n: int, k: int = 10) -> int:
    """HNSW ef for a top-``k`` query over ``n`` vectors: in proportion to ``n`` between the bounds,
    and at least ``4 k`` (a top-100 query needs a longer candidate list than a top-10)."""
    ef = math.ceil(max(n, 0) * EXPANSION_PER_100K / 100_000)
    return max(EXPANSION_MIN, min(EXPANSION_MAX, ef), 4 * k)


def _load_lightgbm_first() -> None:
    """LightGBM's library must load before usearch's: once usearch.compiled is loaded, every LightGBM
    fit in the process fails ("Feature (Column_) appears more than one time"), so a server that had
    searched places could no longer train or score (lightgbm 4.7.0, usearch 2.26.6)."""
    import lightgbm  # noqa: F401


class AnnIndex:
    """usearch HNSW over unit vectors (cosine); keys are row numbers of the matrix.

    The graph holds half-precision copies (``DTYPE``): half the memory traffic, so the build and each
    query take about a third less CPU at the same recall (measured at 60k-100k). The candidates it
    finds are re-scored against the float32 rows, so order and similarities are exact.

    HNSW's neighbour pruning leaves a few nodes that no search reaches (60-83 of 50k clustered vectors
    were not among the 256 results for their own vector): a place that search could never return.
    ``add`` looks for them (each new row searched for itself) and every search scores them beside
    the graph's candidates."""

    def __init__(
        self,
        dim: int,
        *,
        connectivity: int = CONNECTIVITY,
        expansion_add: int = EXPANSION_ADD,
        expansion: int | None = None,
        dtype: str = DTYPE,
    ) -> None:
        _load_lightgbm_first()
        from usearch.index import Index

        self.fixed_expansion = expansion  # None: expansion_search(len(self), k) per query
        self.matrix = np.zeros((0, dim), dtype=np.float32)  # the float32 rows, for re-scoring
        self.orphans = np.zeros(0, dtype=np.int64)  # rows the graph does not lead to: always scored
        self._checked = 0  # rows when every row was last checked (a later row can cut an earlier one off)
        self.index = Index(
            ndim=dim,
            metric="cos",
            dtype=dtype,
            connectivity=connectivity,
            expansion_add=expansion_add,
            expansion_search=16,  # a floor only: each query asks for its own ef (``search``)
        )

    def __len__(self) -> int:
        return len(self.index)

    def add(self, vectors: np.ndarray, start: int = 0, *, threads: int = 1) -> None:
        """Insert unit ``vectors`` as rows ``start…`` (``start`` = rows added so far); ``threads`` 0
        uses every core (the build is CPU-bound). The first call keeps a reference, not a copy."""
        if not len(vectors):
            return
        if start != len(self.matrix):
            raise HexlakeError(f"ANN rows are added in order: the next is {len(self.matrix)}, not {start}")
        vectors = np.asarray(vectors, dtype=np.float32)
        self.matrix = vectors if not len(self.matrix) else np.vstack([self.matrix, vectors])
        rows = np.arange(start, start + len(vectors), dtype=np.int64)
        self.index.add(rows.astype(np.uint64), vectors, threads=threads)
        if len(self.matrix) >= 2 * self._checked:  # doubled: check every row (amortised, one search a row)
            every = np.arange(len(self.matrix), dtype=np.int64)
            self.orphans, self._checked = self.unreachable(every, self.matrix, threads), len(self.matrix)
        else:
            self.orphans = np.union1d(self.orphans, self.unreachable(rows, vectors, threads))

    def unreachable(self, rows: np.ndarray, vectors: np.ndarray, threads: int) -> np.ndarray:
        """Those of ``rows`` a search for their own vector does not find, even ``ORPHAN_CHECK_K`` wide
        (a quick top-1 pass first: most rows are their own nearest). Rows added earlier can lose their
        way in as the graph grows: every row is checked again each time the index doubles, and at
        every rebuild (any change of a place)."""
        top = np.asarray(self.index.search(vectors, 1, threads=threads).keys, dtype=np.int64).reshape(len(rows), -1)
        suspects = np.nonzero(top[:, 0] != rows)[0]
        if not len(suspects):
            return np.zeros(0, dtype=np.int64)
        wide = self.index.search(vectors[suspects], ORPHAN_CHECK_K, threads=threads).keys
        wide = np.asarray(wide, dtype=np.int64).reshape(len(suspects), -1)
        lost: np.ndarray = rows[suspects][~(wide == rows[suspects][:, None]).any(axis=1)]
        return lost

    def expansion(self, k: int) -> int:
        return self.fixed_expansion or expansion_search(len(self.index), k)

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(row numbers, cosine similarities), best first."""
        # usearch searches with max(expansion_search, count) candidates: asking for ef results sets
        # ef per query without touching the index-wide setting that other threads read
        found = self.index.search(query, max(k, self.expansion(k)), threads=1)
        rows = np.asarray(found.keys, dtype=np.int64)
        if len(self.orphans):
            rows = np.union1d(rows, self.orphans)
        unit = np.asarray(query, dtype=np.float32) / (float(np.linalg.norm(query)) or 1.0)
        sims = self.matrix[rows] @ unit
        best = np.argsort(-sims, kind="stable")[:k]
        return rows[best], sims[best]

    def describe(self) -> dict[str, Any]:
        """The settings a benchmark records beside its numbers."""
        return {
            "library": "usearch",
            "metric": "cos",
            "dtype": str(self.index.dtype).rsplit(".", 1)[-1].lower(),
            "connectivity": self.index.connectivity,
            "expansion_add": self.index.expansion_add,
            "expansion_search_k10": self.expansion(10),
            "vectors": len(self.index),
            "unreachable_rows": len(self.orphans),  # scored by every search
        }


def exact_search(matrix: np.ndarray, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Brute force cosine (``matrix`` rows unit length): the ground truth for the ANN index."""
    sims = matrix @ query
    k = min(k, len(sims))
    top = np.argpartition(-sims, k - 1)[:k]
    top = top[np.argsort(-sims[top], kind="stable")]
    return top, sims[top]


class VectorStore(Protocol):
    """What search needs of a vector store: ``PlaceVectors`` (files + usearch) or ``PgPlaceVectors``."""

    @property
    def ids(self) -> list[str]: ...

    def count(self) -> int: ...

    def pending(self, texts: dict[str, str]) -> dict[str, str]: ...

    def upsert(self, texts: dict[str, str], vectors: np.ndarray, keep: set[str] | None = None) -> None: ...

    def search(
        self, query: np.ndarray, k: int, *, exact: bool = False, among: Collection[str] | None = None
    ) -> list[tuple[str, float]]: ...

    def has(self, place_id: str) -> bool: ...

    def vector_of(self, place_id: str) -> np.ndarray: ...

    def similar(self, place_id: str, k: int) -> list[tuple[str, float]]: ...


class PlaceVectors:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._lock = threading.RLock()
        self.ids: list[str] = []
        self.hashes: list[str] = []
        self.matrix = np.zeros((0, 384), dtype=np.float32)
        self.rows: dict[str, int] = {}
        self._ann: AnnIndex | None = None
        self._load()

    def _load(self) -> None:
        meta, npy = self.folder / "places.json", self.folder / "places.npy"
        if meta.exists() and npy.exists():
            data = json.loads(meta.read_text())
            self.ids, self.hashes = data["ids"], data["hashes"]
            self.matrix = np.load(npy)
        self.rows = {pid: i for i, pid in enumerate(self.ids)}

    def _save(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / "places.npy.tmp.npy"
        np.save(tmp, self.matrix)
        os.replace(tmp, self.folder / "places.npy")
        (self.folder / "places.json.tmp").write_text(json.dumps({"ids": self.ids, "hashes": self.hashes}))
        os.replace(self.folder / "places.json.tmp", self.folder / "places.json")

    def pending(self, texts: dict[str, str]) -> dict[str, str]:
        """The texts (by place id) that are new or changed since they were embedded."""
        known = dict(zip(self.ids, self.hashes, strict=True))
        return {pid: t for pid, t in texts.items() if known.get(pid) != text_hash(t)}

    def upsert(self, texts: dict[str, str], vectors: np.ndarray, keep: set[str] | None = None) -> None:
        """Store vectors for ``texts`` (same order); with ``keep``, drop ids not in it (deleted places)."""
        with self._lock:
            rows = {pid: i for i, pid in enumerate(self.ids)}
            matrix, ids, hashes = self.matrix.copy(), list(self.ids), list(self.hashes)
            if not ids and len(vectors):
                matrix = np.zeros((0, vectors.shape[1]), dtype=np.float32)  # the first vectors set the width
            extra = []
            for (pid, text), vec in zip(texts.items(), vectors, strict=True):
                if pid in rows:
                    matrix[rows[pid]], hashes[rows[pid]] = vec, text_hash(text)
                else:
                    ids.append(pid)
                    hashes.append(text_hash(text))
                    extra.append(vec)
            if extra:
                matrix = np.vstack([matrix, np.asarray(extra, dtype=np.float32)])
            if keep is not None:
                mask = np.array([pid in keep for pid in ids], dtype=bool)
                matrix = matrix[mask] if len(ids) else matrix
                ids = [p for p, m in zip(ids, mask, strict=True) if m]
                hashes = [h for h, m in zip(hashes, mask, strict=True) if m]
            appended_only = keep is None and len(extra) == len(texts)
            if not appended_only:
                self._ann = None  # a changed or removed row: rebuilt at the next search
            elif self._ann is not None and extra:
                # new places only: grow the index instead of rebuilding it at the next search
                self._ann.add(matrix[len(self.ids) :], start=len(self.ids), threads=0)
            self.matrix, self.ids, self.hashes = matrix, ids, hashes
            self.rows = {pid: i for i, pid in enumerate(ids)}
            self._save()

    def ann(self) -> AnnIndex:
        with self._lock:
            if self._ann is None:
                index = AnnIndex(self.matrix.shape[1] if self.matrix.size else 384)
                index.add(self.matrix, threads=0)  # every core: the first search after a change waits for it
                self._ann = index
            return self._ann

    def count(self) -> int:
        return len(self.ids)

    def search(
        self, query: np.ndarray, k: int, *, exact: bool = False, among: Collection[str] | None = None
    ) -> list[tuple[str, float]]:
        """(id, cosine similarity), best first: the ANN index, or exact (also over ``among`` when
        given, and below ``EXACT_BELOW`` places)."""
        with self._lock:
            ids, matrix, rows = self.ids, self.matrix, self.rows
        if among is not None:
            keep = np.array(sorted(rows[i] for i in among if i in rows), dtype=np.int64)
            if not len(keep):
                return []
            top, sims = exact_search(matrix[keep], query, k)
            return [(ids[int(keep[r])], round(float(s), 6)) for r, s in zip(top, sims, strict=True)]
        if not ids:
            return []
        k = min(k, len(ids))
        exact = exact or len(ids) < EXACT_BELOW
        top, sims = exact_search(matrix, query, k) if exact else self.ann().search(query, k)
        n = len(ids)
        return [(ids[int(r)], round(float(s), 6)) for r, s in zip(top, sims, strict=True) if 0 <= r < n]

    def has(self, place_id: str) -> bool:
        return place_id in self.rows

    def vector_of(self, place_id: str) -> np.ndarray:
        if place_id in self.rows:
            return self.matrix[self.rows[place_id]]
        raise NotFound(
            f"place {place_id!r} has no vector yet (new places are embedded within a minute)", field="place_id"
        )

    def similar(self, place_id: str, k: int) -> list[tuple[str, float]]:
        """The ``k`` places nearest in meaning to ``place_id`` (itself left out), by the ANN index."""
        return [h for h in self.search(self.vector_of(place_id), k + 1) if h[0] != place_id][:k]


def place_text(place: dict[str, Any]) -> str:
    """What a place's vector says: its name and category, plus a description attribute when present."""
    attrs = place.get("attributes") or {}
    parts = [str(place.get("name") or ""), str(place.get("category") or ""), str(attrs.get("description") or "")]
    return ", ".join(p for p in parts if p)


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def place_vectors(runtime: Runtime) -> VectorStore:
    """The place vectors: in the warehouse (pgvector) on PostgreSQL, else files + usearch in the data dir."""
    from hexlake.ml.pgvectors import PgPlaceVectors, is_postgres
    from hexlake.ml.source import ml_dir

    def make(rt: Runtime) -> VectorStore:
        if is_postgres(rt):
            from hexlake.warehouse import get_warehouse

            return PgPlaceVectors(get_warehouse(rt))
        return PlaceVectors(ml_dir(rt) / "vectors")

    pv: VectorStore = runtime.resource("ml.place_vectors", make)
    return pv


def embed_pending(runtime: Runtime, batch: int = 256) -> int:
    """The embedding consumer's work: embed new or changed place texts; returns how many."""
    from hexlake.ml.embeddings import available, embed
    from hexlake.spatial.resources import places

    if not available():
        return 0
    pv = place_vectors(runtime)
    texts, after = {}, None
    while True:
        page = places(runtime).page(after=after, limit=1000)
        texts.update({p.id: place_text(p.to_json()) for p in page})
        if len(page) < 1000:
            break
        after = page[-1].id
    todo = pv.pending(texts)
    items = list(todo.items())
    for i in range(0, len(items), batch):
        chunk = dict(items[i : i + batch])
        pv.upsert(chunk, embed(list(chunk.values())))
    if set(pv.ids) - set(texts):
        pv.upsert({}, np.zeros((0, 384), dtype=np.float32), keep=set(texts))
    return len(todo)


def search_places(
    runtime: Runtime,
    q: str,
    *,
    k: int = 10,
    lat: float | None = None,
    lng: float | None = None,
    radius_m: float | None = None,
) -> list[dict[str, Any]]:
    """Places whose text is closest in meaning to ``q``; with lat/lng/radius_m only places within it."""
    from hexlake.ml.embeddings import embed

    if not q.strip() or len(q) > 500:
        raise BadRequest("q must be 1 to 500 characters", field="q")
    from hexlake.ml.posts import post_vectors

    query = embed([q])[0]
    pv, posts = place_vectors(runtime), post_vectors(runtime)
    inside: set[str] | None = None
    if lat is not None and lng is not None:
        from hexlake.spatial.resources import places

        service = places(runtime)
        inside = {h.id for h in service.nearby_hits(lat, lng, radius_m or 1000.0, service.max_limit)}
    # a place scores its own text's similarity or its best post's, whichever is higher; the top k of
    # each list (exact over the places inside the radius) hold the top k of the two merged
    best: dict[str, float] = {}
    for pid, sim in [*pv.search(query, 2 * k, among=inside), *posts.search_places(query, k, among=inside)]:
        best[pid] = max(best.get(pid, -1.0), sim)
    ranked = sorted(((p, s) for p, s in best.items() if inside is None or p in inside), key=lambda h: (-h[1], h[0]))
    return _with_places(runtime, ranked[:k])


def similar_places(runtime: Runtime, place_id: str, k: int = 10) -> list[dict[str, Any]]:
    return _with_places(runtime, place_vectors(runtime).similar(place_id, k))


def similar_ids(runtime: Runtime, place_ids: list[str], per_place: int = 5) -> list[str]:
    """Ids of places near each of ``place_ids`` in meaning (none when those have no vectors yet)."""
    pv = place_vectors(runtime)
    out: list[str] = []
    for pid in place_ids:
        try:
            out += [h[0] for h in pv.similar(pid, per_place)]
        except NotFound:  # not embedded yet
            continue
    return out


def _with_places(runtime: Runtime, hits: list[tuple[str, float]]) -> list[dict[str, Any]]:
    from hexlake.spatial.resources import places

    found = places(runtime).store.get_many([pid for pid, _ in hits])
    return [{**found[pid].to_json(), "similarity": sim} for pid, sim in hits if pid in found]


__all__ = [
    "AnnIndex",
    "PlaceVectors",
    "VectorStore",
    "embed_pending",
    "exact_search",
    "place_text",
    "place_vectors",
    "search_places",
    "similar_ids",
    "similar_places",
    "text_hash",
]
