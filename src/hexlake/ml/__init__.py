"""The ML stage (docs/ml.md): point-in-time features, training sets, a LightGBM ranker with a registry,
``/v1/recommend`` with a two-level cache, and semantic place search over MiniLM embeddings.

Submodules load their heavy dependencies (lightgbm, usearch, sentence-transformers) on first use.
"""

from __future__ import annotations

__all__: list[str] = []
