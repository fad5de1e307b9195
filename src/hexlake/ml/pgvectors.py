"""Place and post vectors in a PostgreSQL warehouse, searched by pgvector (HNSW, cosine).

Used instead of the files + in-process usearch index of ``hexlake.ml.vectors`` when the warehouse is
PostgreSQL (``HEXLAKE_WAREHOUSE_URL=postgresql://…``): every process of a deployment (API servers,
workers) then shares one set of vectors, and searches run in the database. Tables, in the ``vectors``
schema (seed 002):

* ``vectors.place_vectors (place_id PK, text_hash, embedding vector(384), updated_at)``
* ``vectors.post_vectors (event_id PK, place_id, user_key, text_hash, embedding vector(384), updated_at)``

each with an HNSW index (``vector_cosine_ops``). A search is ``ORDER BY embedding <=> q LIMIT k``
(the index, ``hnsw.ef_search`` 100 for recall); with a set of allowed places (the lat/lng radius) it is
exact over that set, from a materialised CTE the index cannot serve. Vectors go over the wire as
pgvector's text form (``'[0.1,…]'::vector``), so no client package is needed.

The extension and tables are created on the first write (``CREATE EXTENSION IF NOT EXISTS vector``:
needs pgvector on the server, see docs/operations.md); reads of a database that has none yet answer
empty, so erasure works on a warehouse that never stored a vector.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import numpy as np

from hexlake.errors import NotFound, WarehouseError
from hexlake.ml.embeddings import DIM
from hexlake.ml.errors import NotInstalled

EF_SEARCH = 100  # pgvector's default 40 loses recall@10 on clustered text vectors
BULK = 1000  # an upsert of at least this many rows into an empty table builds the index after COPY
_DDL = [
    "CREATE EXTENSION IF NOT EXISTS vector",
    "CREATE SCHEMA IF NOT EXISTS vectors",
    f"CREATE TABLE IF NOT EXISTS vectors.place_vectors (place_id text PRIMARY KEY, text_hash text NOT NULL, "
    f"embedding vector({DIM}) NOT NULL, updated_at timestamptz NOT NULL DEFAULT now())",
    "CREATE INDEX IF NOT EXISTS place_vectors_hnsw ON vectors.place_vectors "
    "USING hnsw (embedding vector_cosine_ops)",
    f"CREATE TABLE IF NOT EXISTS vectors.post_vectors (event_id text PRIMARY KEY, place_id text NOT NULL, "
    f"user_key text NOT NULL, text_hash text NOT NULL, embedding vector({DIM}) NOT NULL, "
    "updated_at timestamptz NOT NULL DEFAULT now())",
    "CREATE INDEX IF NOT EXISTS post_vectors_hnsw ON vectors.post_vectors USING hnsw (embedding vector_cosine_ops)",
    "CREATE INDEX IF NOT EXISTS post_vectors_user_key ON vectors.post_vectors (user_key)",
]
PGVECTOR_HINT = ("vector search on a PostgreSQL warehouse needs the pgvector extension in its server: "
                 "apt-get install postgresql-15-pgvector, or bash scripts/ensure-debian-deps.sh "
                 "(builds Debian's pgvector source on bookworm)")


def to_text(vec: np.ndarray) -> str:
    """pgvector's text input ``[x1,x2,…]``, to 8 decimals (unit vectors: far below float32's error)."""
    return "[" + ",".join(map(repr, np.asarray(vec, dtype=np.float64).round(8).tolist())) + "]"


def from_text(text: str) -> np.ndarray:
    return np.array(text.strip("[]").split(","), dtype=np.float32)


class _PgTables:
    """The ``vectors`` schema in one PostgreSQL warehouse (a ``PostgresWarehouse``)."""

    def __init__(self, warehouse: Any) -> None:
        self.warehouse = warehouse
        self._ready = False

    def ensure(self) -> None:
        if self._ready:
            return
        try:
            for sql in _DDL:
                self.warehouse.execute(sql)  # CREATE statements wait on the warehouse's DDL lock
        except WarehouseError as exc:
            if "vector" in str(exc) and ("control file" in str(exc) or "extension" in str(exc)):
                raise NotInstalled(f"{PGVECTOR_HINT} ({exc})") from exc
            raise
        self._ready = True

    def exists(self) -> bool:
        if self._ready:
            return True
        row = self.rows("SELECT to_regclass('vectors.post_vectors') IS NOT NULL")
        self._ready = bool(row and row[0][0])
        return self._ready

    def rows(self, sql: str, params: Any = None, *, ef_search: bool = False) -> list[tuple[Any, ...]]:
        conn = self.warehouse.connection()
        try:
            with conn.transaction():
                if ef_search:
                    conn.execute(f"SET LOCAL hnsw.ef_search = {EF_SEARCH}")
                return list(conn.execute(sql, params).fetchall())
        except Exception as exc:
            import psycopg

            if isinstance(exc, psycopg.Error):
                raise WarehouseError(f"PostgreSQL vector query failed: {exc}") from exc
            raise

    def write(self, sql: str, rows: list[tuple[Any, ...]], then: tuple[str, Any] | None = None) -> None:
        conn = self.warehouse.connection()
        try:
            with conn.transaction(), conn.cursor() as cur:
                if rows:
                    cur.executemany(sql, rows)
                if then is not None:
                    cur.execute(*then)
        except Exception as exc:
            import psycopg

            if isinstance(exc, psycopg.Error):
                raise WarehouseError(f"PostgreSQL vector write failed: {exc}") from exc
            raise


def _hits(rows: list[tuple[Any, ...]]) -> list[tuple[str, float]]:
    return [(str(r[0]), round(float(r[1]), 6)) for r in rows]


class PgPlaceVectors:
    """Place vectors in ``vectors.place_vectors``: the interface of ``vectors.PlaceVectors``."""

    table = "vectors.place_vectors"
    key = "place_id"

    def __init__(self, warehouse: Any) -> None:
        self.db = _PgTables(warehouse)

    @property
    def ids(self) -> list[str]:
        if not self.db.exists():
            return []
        return [r[0] for r in self.db.rows(f"SELECT {self.key} FROM {self.table} ORDER BY {self.key}")]

    def count(self) -> int:
        return int(self.db.rows(f"SELECT count(*) FROM {self.table}")[0][0]) if self.db.exists() else 0

    def pending(self, texts: dict[str, str]) -> dict[str, str]:
        from hexlake.ml.vectors import text_hash

        known = dict(self.db.rows(f"SELECT {self.key}, text_hash FROM {self.table}")) if self.db.exists() else {}
        return {pid: t for pid, t in texts.items() if known.get(pid) != text_hash(t)}

    def upsert(self, texts: dict[str, str], vectors: np.ndarray, keep: set[str] | None = None) -> None:
        """Store vectors for ``texts`` (same order); with ``keep``, delete ids not in it (deleted places)."""
        from hexlake.ml.vectors import text_hash

        self.db.ensure()
        rows = [(pid, text_hash(t), to_text(v)) for (pid, t), v in zip(texts.items(), vectors, strict=True)]
        if len(rows) >= BULK and keep is None and self.count() == 0:
            self._bulk_load(rows)
            return
        then = (f"DELETE FROM {self.table} WHERE NOT ({self.key} = ANY(%s))", (sorted(keep),)) if keep is not None \
            else None
        self.db.write(f"INSERT INTO {self.table} ({self.key}, text_hash, embedding) VALUES (%s, %s, %s::vector) "
                      f"ON CONFLICT ({self.key}) DO UPDATE SET text_hash = EXCLUDED.text_hash, "
                      "embedding = EXCLUDED.embedding, updated_at = now()", rows, then)

    def _bulk_load(self, rows: list[tuple[str, str, str]]) -> None:
        """The first load of many vectors: COPY, then build the HNSW index once (5x faster than keeping
        it up to date row by row); the table was empty, so no search loses anything meanwhile."""
        import psycopg

        index = f"{self.table.split('.')[1]}_hnsw"
        conn = self.db.warehouse.connection()
        try:
            with conn.transaction():
                conn.execute(f"DROP INDEX IF EXISTS vectors.{index}")
                with conn.cursor().copy(f"COPY {self.table} ({self.key}, text_hash, embedding) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
                conn.execute(f"CREATE INDEX {index} ON {self.table} USING hnsw (embedding vector_cosine_ops)")
        except psycopg.Error as exc:
            raise WarehouseError(f"PostgreSQL vector bulk load failed: {exc}") from exc

    def search(self, query: np.ndarray, k: int, *, exact: bool = False,
               among: Collection[str] | None = None) -> list[tuple[str, float]]:
        """(id, cosine similarity), best first: the HNSW index, or exact (over ``among`` when given)."""
        if not self.db.exists():
            return []
        q = to_text(query)
        if among is not None or exact:
            where = f"WHERE {self.key} = ANY(%(among)s)" if among is not None else ""
            sql = (f"WITH c AS MATERIALIZED (SELECT {self.key} AS id, embedding <=> %(q)s::vector AS d "
                   f"FROM {self.table} {where}) SELECT id, 1 - d FROM c ORDER BY d, id LIMIT %(k)s")
            return _hits(self.db.rows(sql, {"q": q, "k": k, "among": list(among or [])}))
        sql = (f"SELECT {self.key}, 1 - (embedding <=> %(q)s::vector) FROM {self.table} "
               "ORDER BY embedding <=> %(q)s::vector LIMIT %(k)s")
        return _hits(self.db.rows(sql, {"q": q, "k": k}, ef_search=True))

    def has(self, place_id: str) -> bool:
        return self.db.exists() and bool(self.db.rows(f"SELECT 1 FROM {self.table} WHERE {self.key} = %s",
                                                      (place_id,)))

    def vector_of(self, place_id: str) -> np.ndarray:
        rows = self.db.rows(f"SELECT embedding::text FROM {self.table} WHERE {self.key} = %s",
                            (place_id,)) if self.db.exists() else []
        if not rows:
            raise NotFound(f"place {place_id!r} has no vector yet (new places are embedded within a minute)",
                           field="place_id")
        return from_text(rows[0][0])

    def similar(self, place_id: str, k: int) -> list[tuple[str, float]]:
        """The ``k`` places nearest in meaning to ``place_id`` (itself left out), by the HNSW index."""
        own = f"(SELECT embedding FROM {self.table} WHERE {self.key} = %(id)s)"
        # one statement (the recommender asks this for three favourites on every cache miss); the
        # EXISTS is a one-time filter, so a place with no vector gives no rows rather than NULLs
        sql = (f"SELECT {self.key}, 1 - (embedding <=> {own}) FROM {self.table} "
               f"WHERE EXISTS {own} ORDER BY embedding <=> {own} LIMIT %(k)s")
        rows = _hits(self.db.rows(sql, {"id": place_id, "k": k + 1}, ef_search=True)) if self.db.exists() else []
        if not rows:
            self.vector_of(place_id)  # raises NotFound when it has no vector
        return [h for h in rows if h[0] != place_id][:k]


class PgPostVectors(PgPlaceVectors):
    """Post vectors in ``vectors.post_vectors`` with each post's place and author (``posts.PostVectors``)."""

    table = "vectors.post_vectors"
    key = "event_id"

    def add_posts(self, posts: list[tuple[str, str, str, str]], vectors: np.ndarray) -> None:
        """``posts``: (event_id, place_id, user_key, text), in the order of ``vectors``."""
        from hexlake.ml.vectors import text_hash

        self.db.ensure()
        rows = [(eid, place, user, text_hash(text), to_text(v))
                for (eid, place, user, text), v in zip(posts, vectors, strict=True)]
        self.db.write("INSERT INTO vectors.post_vectors (event_id, place_id, user_key, text_hash, embedding) "
                      "VALUES (%s, %s, %s, %s, %s::vector) ON CONFLICT (event_id) DO UPDATE SET "
                      "place_id = EXCLUDED.place_id, user_key = EXCLUDED.user_key, "
                      "text_hash = EXCLUDED.text_hash, embedding = EXCLUDED.embedding, updated_at = now()", rows)

    def search_places(self, query: np.ndarray, k: int,
                      among: Collection[str] | None = None) -> list[tuple[str, float]]:
        """(place_id, similarity of its best post), best first: the ``4 k`` nearest posts by the index,
        or exact over the posts of ``among``."""
        if not self.db.exists():
            return []
        q = to_text(query)
        if among is not None:
            sql = ("SELECT place_id, max(1 - (embedding <=> %(q)s::vector)) AS s FROM vectors.post_vectors "
                   "WHERE place_id = ANY(%(among)s) GROUP BY place_id ORDER BY s DESC, place_id LIMIT %(k)s")
            return _hits(self.db.rows(sql, {"q": q, "k": k, "among": list(among)}))
        sql = ("SELECT place_id, max(s) AS s FROM (SELECT place_id, 1 - (embedding <=> %(q)s::vector) AS s "
               "FROM vectors.post_vectors ORDER BY embedding <=> %(q)s::vector LIMIT %(n)s) AS near "
               "GROUP BY place_id ORDER BY s DESC, place_id LIMIT %(k)s")
        return _hits(self.db.rows(sql, {"q": q, "n": 4 * k, "k": k}, ef_search=True))

    def of_author(self, user_key: str) -> list[str]:
        if not self.db.exists():
            return []
        return [r[0] for r in self.db.rows("SELECT event_id FROM vectors.post_vectors WHERE user_key = %s "
                                           "ORDER BY event_id", (user_key,))]

    def drop_author(self, user_key: str) -> int:
        if not self.db.exists():
            return 0
        rows = self.db.rows("DELETE FROM vectors.post_vectors WHERE user_key = %s RETURNING event_id", (user_key,))
        return len(rows)

    def place_of(self, event_id: str) -> str | None:
        rows = self.db.rows("SELECT place_id FROM vectors.post_vectors WHERE event_id = %s",
                            (event_id,)) if self.db.exists() else []
        return str(rows[0][0]) if rows else None


def is_postgres(runtime: Any) -> bool:
    """Whether the runtime's warehouse is PostgreSQL (read from the URL: DuckDB is never opened here)."""
    url: str = runtime.settings.resolved_warehouse_url()
    return url.partition("://")[0].lower() in ("postgresql", "postgres", "postgresql+psycopg")


__all__ = ["EF_SEARCH", "PGVECTOR_HINT", "PgPlaceVectors", "PgPostVectors", "from_text", "is_postgres", "to_text"]
