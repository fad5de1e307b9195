"""The embedding consumer of posts: reads the log (group ``ml-embeddings``), embeds post texts in batches.

A post is a ``place_interaction`` (or ``user_interaction``) whose ``interaction_type`` is ``post``,
``review`` or ``comment`` and whose properties carry ``text``. Its vector is stored under its
``event_id`` with the place and the author's key (``<data_dir>/ml/vectors/posts/``, or the table
``vectors.post_vectors`` on a PostgreSQL warehouse), so place search also finds places by what people
wrote there, and erasure can drop an author's vectors.
"""

from __future__ import annotations

import json
import os
from collections.abc import Collection
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from hexlake.ml.vectors import PlaceVectors
from hexlake.runtime import Runtime

GROUP = "ml-embeddings"
POST_TYPES = ("post", "review", "comment")


class PostVectors(PlaceVectors):
    """Post vectors by event id, plus each post's place and author."""

    def __init__(self, folder: Path) -> None:
        super().__init__(folder)
        meta = folder / "posts.json"
        self.about: dict[str, list[str]] = json.loads(meta.read_text()) if meta.exists() else {}

    def add_posts(self, posts: list[tuple[str, str, str, str]], vectors: np.ndarray) -> None:
        """``posts``: (event_id, place_id, user_key, text), in the order of ``vectors``."""
        self.upsert({p[0]: p[3] for p in posts}, vectors)
        self.about.update({p[0]: [p[1], p[2]] for p in posts})
        self._save_about()

    def _save_about(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / "posts.json.tmp"
        tmp.write_text(json.dumps(self.about))
        os.replace(tmp, self.folder / "posts.json")

    def of_author(self, user_key: str) -> list[str]:
        return [eid for eid, (_, author) in self.about.items() if author == user_key]

    def drop_author(self, user_key: str) -> int:
        mine = set(self.of_author(user_key))
        if mine:
            self.upsert({}, np.zeros((0, self.matrix.shape[1]), dtype=np.float32), keep=set(self.ids) - mine)
            self.about = {k: v for k, v in self.about.items() if k not in mine}
            self._save_about()
        return len(mine)

    def place_of(self, event_id: str) -> str | None:
        about = self.about.get(event_id)
        return about[0] if about else None

    def search_places(self, query: np.ndarray, k: int,
                      among: Collection[str] | None = None) -> list[tuple[str, float]]:
        """(place_id, similarity of its best post), best first: the ``4 k`` nearest posts by the ANN
        index, or exact over the posts about the places ``among``."""
        if among is None:
            hits = self.search(query, 4 * k)
        else:
            wanted = set(among)
            hits = self.search(query, len(self.ids), among=[e for e, (p, _) in self.about.items() if p in wanted])
        best: dict[str, float] = {}
        for eid, sim in hits:
            at = self.place_of(eid)
            if at is not None:
                best[at] = max(best.get(at, -1.0), sim)
        return sorted(best.items(), key=lambda h: (-h[1], h[0]))[:k]


class PostStore(Protocol):
    """``PostVectors`` (files + usearch) or ``pgvectors.PgPostVectors`` (the warehouse, pgvector)."""

    @property
    def ids(self) -> list[str]: ...

    def add_posts(self, posts: list[tuple[str, str, str, str]], vectors: np.ndarray) -> None: ...

    def search_places(self, query: np.ndarray, k: int,
                      among: Collection[str] | None = None) -> list[tuple[str, float]]: ...

    def of_author(self, user_key: str) -> list[str]: ...

    def drop_author(self, user_key: str) -> int: ...

    def place_of(self, event_id: str) -> str | None: ...


def post_vectors(runtime: Runtime) -> PostStore:
    """The post vectors: in the warehouse (pgvector) on PostgreSQL, else files + usearch in the data dir."""
    from hexlake.ml.pgvectors import PgPostVectors, is_postgres
    from hexlake.ml.source import ml_dir

    def make(rt: Runtime) -> PostStore:
        if is_postgres(rt):
            from hexlake.warehouse import get_warehouse

            return PgPostVectors(get_warehouse(rt))
        return PostVectors(ml_dir(rt) / "vectors" / "posts")

    pv: PostStore = runtime.resource("ml.post_vectors", make)
    return pv


def post_of(event: Any) -> tuple[str, str, str, str] | None:
    """(event_id, place_id, user_key, text) when the event is a post with text, else None."""
    props = event.properties or {}
    text, place = props.get("text"), props.get("place_id")
    kinds = ("place_interaction", "user_interaction")
    if event.event_type not in kinds or props.get("interaction_type") not in POST_TYPES:
        return None
    if not isinstance(text, str) or not text.strip() or place is None or not event.user_key:
        return None
    return event.event_id, str(place), event.user_key, text[:2000]


def consume_posts(runtime: Runtime, max_messages: int = 500) -> int:
    """One batch of the log: embed the posts in it, then ack every message read. Returns posts embedded."""
    from hexlake.gate.envelope import decode_event
    from hexlake.log import get_log
    from hexlake.ml.embeddings import available, embed

    if not available():
        return 0  # without hexlake[ml] the group is left unread rather than skipped past
    log = get_log(runtime)
    messages = log.read(GROUP, "ml", max_messages)
    if not messages:
        return 0
    posts = [p for p in (post_of(decode_event(m.payload)) for m in messages) if p is not None]
    if posts:
        post_vectors(runtime).add_posts(posts, embed([p[3] for p in posts]))
    log.ack(GROUP, [m.offset for m in messages])
    return len(posts)


__all__ = ["GROUP", "PostStore", "PostVectors", "consume_posts", "post_of", "post_vectors"]
