"""Per-table PII policy: which source columns are hashed, masked or dropped before landing.

From a TOML/JSON file (``{"users": {"email": "hash", "phone": "mask", "password": "drop"}}``) or CLI
rules ``users.email=hash``. Hashing is the data dir's HMAC (``hexlake.privacy.hashing.Hasher``), so
the hashed columns join with the gate's hashed identifiers; emails are normalised first.

Well-known identifier columns are protected even without a rule (``DEFAULT_RULES``: email, IP,
password, phone, names, photo URLs); ``keep`` opts a column out. Before an identifier is hashed or
dropped, the non-identifying facts seed 004 derives in staging are computed from the plain value and
landed beside it (``derived_columns``): ``email`` → ``email_domain``, ``hashed_password`` →
``has_password``. So nothing plain is stored and staging still has what analysts need.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hexlake.extract.errors import ExtractConfigError
from hexlake.privacy.detect import suspect
from hexlake.privacy.hashing import Hasher, mask

ACTIONS = ("hash", "mask", "drop", "keep")

#: (test on the lower-cased column name, action) applied when no rule names the column.
DEFAULT_RULES: tuple[tuple[Callable[[str], bool], str], ...] = (
    (lambda c: c == "email" or c.endswith("_email"), "hash"),
    (lambda c: "password" in c, "drop"),
    (lambda c: c in ("ip", "ip_address") or c.endswith("_ip"), "hash"),
    (lambda c: "phone" in c, "mask"),
    (lambda c: c in ("first_name", "last_name", "full_name", "middle_name"), "drop"),
    (lambda c: c in ("profile_photo_url", "avatar_url", "photo_url"), "drop"),
)


@dataclass(frozen=True)
class Derived:
    """A non-identifying column computed from a source column's plain value before landing."""

    name: str
    type: str
    compute: Callable[[Any, Hasher], Any]


def email_domain(value: Any, _: Hasher | None = None) -> str | None:
    """``Ann@Example.COM`` → ``example.com``; ``None`` when there is no domain (seed 004's NULLIF)."""
    if not isinstance(value, str):
        return None
    domain = value.strip().rpartition("@")[2].lower() if "@" in value else ""
    return domain or None


def user_key(value: Any, hasher: Hasher) -> str | None:
    """The gate's hashed user key of a user id, so extracted rows join with the person's events."""
    return None if value is None else str(hasher.user_key(str(value)))


def derived_columns(column: str, action: str, table: str = "") -> list[Derived]:
    """What to derive from ``column`` before ``action`` hides it: the email domain, whether a password
    is set, and the events' ``user_key`` of a user id (``users.id``, ``*.user_id``)."""
    c = column.lower()
    if c == "user_id" or (c == "id" and table.lower().endswith("users")):
        return [Derived("user_key", "VARCHAR", user_key)]
    if action == "keep":
        return []
    if c == "email" or c.endswith("_email"):
        return [Derived(f"{c}_domain", "VARCHAR", email_domain)]
    if "password" in c:
        name = "has_password" if c in ("password", "hashed_password", "password_hash", "encrypted_password") \
            else f"has_{c}"
        return [Derived(name, "BOOLEAN", lambda v, _: v is not None and v != "")]
    return []


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
                raise ExtractConfigError(f"PII rule {rule!r} must look like table.column=hash|mask|drop|keep",
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

    def action(self, table: str, column: str) -> str:
        """The action for ``table.column``: its rule, else a default for well-known identifiers, else keep."""
        c = column.lower()
        explicit = self.for_table(table).get(c)
        if explicit is not None:
            return explicit
        return next((action for test, action in DEFAULT_RULES if test(c)), "keep")


def scrub_free(value: Any, scrubber: Any) -> Any:
    """A column no rule names (``keep`` by default), as landed: emails, phone numbers and IPs inside
    its text hashed as the gate hashes them and, in a JSON column, values under contact, id and
    network keys at any depth too (``hexlake.gate.scrub.Scrubber``). An explicit ``keep`` rule skips
    this. Untouched values land byte for byte."""
    if not isinstance(value, str) or not value:
        return value
    if value[0] in "{[":
        try:
            data = json.loads(value)
        except ValueError:
            data = None
        if isinstance(data, dict | list):
            clean = scrubber.properties({"v": data}).get("v")
            return value if clean == data else json.dumps(clean, ensure_ascii=False, separators=(",", ":"))
    return scrubber.text(value, "hash") if suspect(value) else value


def protect(value: Any, action: str, column: str, hasher: Hasher) -> Any:
    """The value to land for a PII column (``drop``ped columns never reach this)."""
    if value is None:
        return None
    if action == "hash":
        return hasher.hash_pii(value, email="email" in column.lower())
    return mask(value)


__all__ = ["ACTIONS", "DEFAULT_RULES", "Derived", "PiiPolicy", "derived_columns", "email_domain", "protect",
           "scrub_free", "user_key"]
