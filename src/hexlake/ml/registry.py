"""The model registry in the data dir: ``<data_dir>/ml/models/<version>/{model.txt,meta.json}``.

``registry.json`` says which version is promoted and, for an A/B test, which version serves arm
``b`` and what share of users (by a hash of the user key) it gets. Writes replace files atomically.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hexlake.errors import BadRequest, NotFound


@dataclass
class Registry:
    root: Path  # <data_dir>/ml

    @property
    def models_dir(self) -> Path:
        return self.root / "models"

    def _state(self) -> dict[str, Any]:
        return self.state_and_generation()[0]

    def state_and_generation(self) -> tuple[dict[str, Any], str]:
        """registry.json and its generation from one ``stat``; the file is re-read only when that
        changed (another process may promote)."""
        path = self.root / "registry.json"
        gen = self.generation()
        cached = getattr(self, "_cached", None)
        if cached is not None and cached[0] == gen:
            return dict(cached[1]), gen
        state = json.loads(path.read_text()) if path.exists() else {"promoted": None, "b": None, "b_share": 0.0}
        self._cached = (gen, state)
        return dict(state), gen

    def _save_state(self, state: dict[str, Any]) -> None:
        _atomic(self.root / "registry.json", json.dumps(state, indent=2))

    def add(self, model_text: str, meta: dict[str, Any]) -> str:
        """Store a new version; returns its name (``v1``, ``v2`` …)."""
        self.models_dir.mkdir(parents=True, exist_ok=True)
        n = 1 + max((int(p.name[1:]) for p in self.models_dir.glob("v*") if p.name[1:].isdigit()), default=0)
        version = f"v{n}"
        folder = self.models_dir / version
        folder.mkdir()
        _atomic(folder / "model.txt", model_text)
        meta = {**meta, "version": version, "created_at": datetime.now(UTC).isoformat(),
                "model_sha256": hashlib.sha256(model_text.encode()).hexdigest()}
        _atomic(folder / "meta.json", json.dumps(meta, indent=2, default=str))
        return version

    def list(self) -> list[dict[str, Any]]:
        state = self._state()
        out = []
        for folder in sorted(self.models_dir.glob("v*"), key=lambda p: int(p.name[1:]) if p.name[1:].isdigit() else 0):
            meta = json.loads((folder / "meta.json").read_text())
            meta["promoted"] = meta["version"] == state["promoted"]
            meta["arm_b"] = meta["version"] == state["b"]
            out.append(meta)
        return out

    def meta(self, version: str) -> dict[str, Any]:
        if not isinstance(version, str) or not _valid(version) or len(version) > 20:
            raise NotFound(f"no model version {version!r}; see `hexlake ml models list`", field="version")
        path = self.models_dir / version / "meta.json"
        if not path.exists():
            raise NotFound(f"no model version {version!r}; see `hexlake ml models list`", field="version")
        data: dict[str, Any] = json.loads(path.read_text())
        return data

    def model_path(self, version: str) -> Path:
        self.meta(version)
        return self.models_dir / version / "model.txt"

    def promote(self, version: str, *, arm: str = "a", share: float = 0.5) -> dict[str, Any]:
        """Serve ``version`` to everyone (arm ``a``), or to ``share`` of users as arm ``b``."""
        self.meta(version)
        state = self._state()
        if arm == "a":
            state.update(promoted=version, b=None if state.get("b") == version else state.get("b"))
        elif arm == "b":
            if not isinstance(share, int | float) or isinstance(share, bool) or not 0 < share < 1:
                raise BadRequest("share must be between 0 and 1 (exclusive)", field="share")
            state.update(b=version, b_share=share)
        else:
            raise BadRequest("arm must be a or b", field="arm")
        self._save_state(state)
        return state

    def end_experiment(self) -> dict[str, Any]:
        state = self._state()
        state.update(b=None, b_share=0.0)
        self._save_state(state)
        return state

    def state(self) -> dict[str, Any]:
        return self._state()

    def generation(self) -> str:
        """Changes whenever the served models change (part of the cache key)."""
        try:  # every save is a new file (os.replace): its inode changes even within one mtime tick
            st = (self.root / "registry.json").stat()
        except FileNotFoundError:
            return "0"
        return f"{st.st_ino}:{st.st_mtime_ns}:{st.st_size}"


def arm_for(user_key: str, state: dict[str, Any]) -> tuple[str, str | None]:
    """(arm, version) for ``user_key``: a stable hash of the key splits users between a and b."""
    if state.get("b"):
        bucket = int(hashlib.sha256(user_key.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
        if bucket < float(state.get("b_share", 0.0)):
            return "b", state["b"]
    return "a", state.get("promoted")


def _valid(version: str) -> bool:
    return version.startswith("v") and version[1:].isdigit()


def _atomic(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


__all__ = ["Registry", "arm_for"]
