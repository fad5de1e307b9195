"""Per-table PII policy: which source columns are hashed, masked or dropped before landing.

From a TOML/JSON file (``{"users": {"email": "hash", "phone": "mask", "password": "drop"}}``) or CLI
rules ``users.email=hash``. Hashing is the data dir's HMAC (``hexlake.privacy.hashing.Hasher``), so
the hashed columns join with the gate's hashed identifiers; emails are normalised first.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hexlake.extract.errors import ExtractConfigError
from hexlake.privacy.hashing import Hasher, mask

ACTIONS = ("hash", "mask", "drop")


@dataclass(frozen=True)
class PiiPolicy:
    """``rules[table][column] = action``."""

    rules: dict[str, dict[str, str]] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path | None, cli_rules: Sequence[str] = ()) -> PiiPolicy:
        rules: dict[str, dict[str, str]] = {}
        if path is not None:
            try:
                text = path.read_text()
                data = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
            except (OSError, ValueError) as exc:
                raise ExtractConfigError(f"cannot read the PII policy {path}: {exc}", field="pii_policy") from exc
            for table, cols in data.items():
                for col, action in dict(cols).items():
                    rules.setdefault(table, {})[col] = str(action)
        for rule in cli_rules:
            target, sep, action = rule.partition("=")
            table, dot, col = target.partition(".")
            if not sep or not dot:
                raise ExtractConfigError(f"PII rule {rule!r} must look like table.column=hash|mask|drop",
                                         field="pii")
            rules.setdefault(table, {})[col] = action
        policy = cls(rules)
        policy.validate()
        return policy

    def validate(self) -> None:
        for table, cols in self.rules.items():
            for col, action in cols.items():
                if action not in ACTIONS:
                    raise ExtractConfigError(
                        f"PII action {action!r} for {table}.{col} is unknown; use one of {', '.join(ACTIONS)}",
                        field="pii")

    def for_table(self, table: str) -> dict[str, str]:
        return {c.lower(): a for c, a in self.rules.get(table, {}).items()}


def protect(value: Any, action: str, column: str, hasher: Hasher) -> Any:
    """The value to land for a PII column (``drop``ped columns never reach this)."""
    if value is None:
        return None
    if action == "hash":
        return hasher.hash_pii(value, email="email" in column.lower())
    return mask(value)


__all__ = ["ACTIONS", "PiiPolicy", "protect"]
