"""Privacy at the door: apply a schema's x-pii plan, and the default rules for known PII keys.

Nothing here mutates its input (the raw item may still be quarantined or replayed): dicts along a
changed path are copied, untouched branches are shared.

Default rules (docs/privacy.md):

* ``context``: ``ip`` and other network addresses, names, addresses, birthdays, passwords are
  dropped; email, phone and advertising ids are hashed; precise coordinates in
  ``context.location`` are removed. Applied at any depth.
* ``properties`` of schemaless events, and top-level property keys a schema does not declare: the
  same rules, top level only, with a narrower drop list (``name`` is often a product or page name).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hexlake.gate.plan import Path, Plan
from hexlake.privacy.hashing import Hasher, email_domain, mask

# Dropped at any depth of context (``ip`` can hide in ``context.network`` or ``context.traits``).
DROP_ANYWHERE = frozenset({
    "ip", "ip_address", "ipAddress", "ipv4", "ipv6", "x-forwarded-for", "forwarded_for",
    "password", "ssn", "latitude", "longitude", "lat", "lng",
})
# Dropped at the top of context and in ``context.traits`` only: deeper, ``name`` is e.g. os.name.
PERSON_KEYS = frozenset({
    "name", "first_name", "last_name", "firstName", "lastName", "full_name", "fullName",
    "address", "street", "birthday", "date_of_birth", "dob",
})
CONTEXT_DROP = DROP_ANYWHERE | PERSON_KEYS
PROPERTY_DROP = frozenset({
    "ip", "ip_address", "ipAddress", "first_name", "last_name", "firstName", "lastName",
    "full_name", "fullName", "address", "street", "birthday", "date_of_birth", "dob", "password", "ssn",
})
HASH_KEYS = frozenset({"email", "phone", "phone_number", "phoneNumber", "advertisingId", "advertising_id",
                       "idfa", "gaid"})
EMAIL_KEYS = frozenset({"email"})
_PERSON_LEVEL_KEYS = CONTEXT_DROP | HASH_KEYS
_DEEP_KEYS = DROP_ANYWHERE | HASH_KEYS
PROPERTY_KEYS = PROPERTY_DROP | HASH_KEYS


def scrub_context(
    context: dict[str, Any], hasher: Hasher, depth: int = 0, person_level: bool = True
) -> dict[str, Any]:
    """``context`` without dropped keys and with hashed identifiers (copied only if changed)."""
    keys = _PERSON_LEVEL_KEYS if person_level else _DEEP_KEYS
    out: dict[str, Any] | None = None
    for key, value in context.items():
        new = value
        if key in keys:
            new = _DROP if key in CONTEXT_DROP else hasher.hash_pii(value, email=key in EMAIL_KEYS)
        elif type(value) is dict and (
            key == "traits" or not (_DEEP_KEYS.isdisjoint(value) and dict not in map(type, value.values()))
        ):  # a nested dict with no PII key and no dict inside is left as is (checked at C speed)
            # Deeper than any real client context: dropped rather than left unchecked.
            new = scrub_context(value, hasher, depth + 1, key == "traits") if depth < 8 else _DROP
        if new is not value:
            if out is None:
                out = dict(context)
            if new is _DROP:
                del out[key]
            else:
                out[key] = new
    return context if out is None else out


def scrub_top_level(props: dict[str, Any], hasher: Hasher, declared: frozenset[str]) -> dict[str, Any]:
    """Default rules on the top-level keys of ``props`` not declared by the schema (copied if changed)."""
    if PROPERTY_KEYS.isdisjoint(props):  # the usual case, at C speed
        return props
    hits = [k for k in props if k in PROPERTY_KEYS and k not in declared]
    if not hits:
        return props
    props = dict(props)
    for key in hits:
        if key in PROPERTY_DROP:
            del props[key]
        else:
            props[key] = hasher.hash_pii(props[key], email=key in EMAIL_KEYS)
    return props


def derive_email_domain(props: dict[str, Any]) -> dict[str, Any]:
    """Add ``email_domain`` from a plain top-level ``email`` before it is hashed (stg_users needs it)."""
    if "email" not in props or "email_domain" in props:
        return props
    domain = email_domain(props["email"])
    if domain is None:
        return props
    return {**props, "email_domain": domain}


def apply_plan(props: dict[str, Any], plan: Plan, hasher: Hasher) -> dict[str, Any]:
    """Hash, mask and drop the annotated fields of a valid ``props`` (a new dict if anything changed)."""
    for path in plan.hash:
        props = _edit(props, path, lambda v, k: hasher.hash_pii(v, email=k in EMAIL_KEYS))
    for path in plan.mask:
        props = _edit(props, path, lambda v, k: mask(v))
    for path in plan.drop:
        props = _edit(props, path, lambda v, k: _DROP)
    return props


def pop_path(props: dict[str, Any], path: Path) -> tuple[dict[str, Any], Any]:
    """Remove ``path`` from ``props``: (new props, removed value or None)."""
    removed: list[Any] = []

    def take(value: Any, key: str) -> Any:
        removed.append(value)
        return _DROP

    new = _edit(props, path, take)
    return new, (removed[0] if removed else None)


class _Drop:
    """Marker: remove the key."""


_DROP: Any = _Drop()
Edit = Callable[[Any, str], Any]


def _edit(node: Any, path: Path, fn: Edit) -> Any:
    """Copy-on-write edit of ``node`` at ``path`` (``*`` = every array element); missing = unchanged."""
    key, rest = path[0], path[1:]
    if key == "*":
        if type(node) is not list:
            return node
        new_list = [_edit(v, rest, fn) if rest else fn(v, key) for v in node]
        return [v for v in new_list if v is not _DROP]
    if type(node) is not dict or key not in node:
        return node
    old = node[key]
    new = _edit(old, rest, fn) if rest else fn(old, key)
    if new is old:
        return node
    copy = dict(node)
    if new is _DROP:
        del copy[key]
    else:
        copy[key] = new
    return copy


__all__ = ["apply_plan", "derive_email_domain", "pop_path", "scrub_context", "scrub_top_level"]
