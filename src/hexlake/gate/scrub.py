"""Privacy at the door: the schema's x-pii plan, then a recursive scrub of every key and value.

Nothing here mutates its input (the raw item may still be quarantined or replayed): containers along
a changed path are copied, untouched branches are shared.

``Scrubber`` walks ``properties`` and ``context`` through every object and list (docs/privacy.md
lists what it finds, ``hexlake.privacy.detect`` holds the lists):

* keys in any spelling (``Email``, ``e-mail``, ``email_address``, ``$email``): secrets and network
  addresses are dropped; contact details get the policy's action; user ids (``user_id``, ``userId``,
  ``uid``…) are HMAC'd with the envelope's ``user_key`` function, so they still join; names,
  addresses and birthdays are dropped where they describe a person (top of ``context``, identify
  traits, and objects such as ``user``, ``traits``, ``$set``, ``contacts[]``);
* values: emails (also ``%40``-encoded), formatted phone numbers, IPv4/IPv6 addresses inside any
  string, and identifying query parameters in URLs (``?email=…&uid=…``).

The action for what is found is a policy (``hash | mask | drop | keep``): the schema's
``x-pii-policy``, else the source's (``gate.source_pii_policy``), else ``gate.pii_policy``. A field
annotated ``x-pii`` is handled by that annotation only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import unquote_plus

import orjson

from hexlake.gate.plan import Path, Plan
from hexlake.privacy import detect as d
from hexlake.privacy.hashing import Hasher, email_domain, mask

POLICIES = ("hash", "mask", "drop", "keep")
MAX_DEPTH = 16  # deeper than any real event: dropped rather than left unchecked
_CLEAN_MAX = 50_000  # entries of each memo of clean objects; cleared when full
_SUSPECT = d.suspect
# ``suspect`` inlined in the hot loop: one call less per string
_PREFILTER, _PREFILTER_ASCII = d.PREFILTER.search, d.PREFILTER_ASCII.search
_DROPPED = frozenset({d.SECRET, d.NETWORK})  # dropped under every policy the walk runs with
# Contexts found clean (after their top-level ``ip``… is dropped), as JSON: a client sends the same
# app/os/device/locale context with every event, so most contexts cost one ``orjson.dumps`` and one
# set lookup. Cleared when full. Only JSON types are serialised (datetimes, subclasses and dataclasses
# raise, so such a context is walked); two contexts with the same JSON get the same scrub.
_CONTEXT_MEMO_MAX = 20_000
_DUMPS_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_SUBCLASS | orjson.OPT_PASSTHROUGH_DATACLASS
_KEY_MEMO = d.KEY_MEMO  # key -> class, filled by ``key_class``
_PERSON_SCOPE = frozenset({d.PERSON_CONTAINER, d.IDENTIFIER})
# Scalars under a key of these classes inherit it (``phone: {home: "4155550132"}``).
_INHERITED = frozenset({d.SECRET, d.NETWORK, d.CONTACT, d.IDENTIFIER})
_QUIET_PERSON = frozenset({d.NONE, d.PERSON_CONTAINER})
_QUIET = _QUIET_PERSON | {d.PERSON}
_QUIET_PERSON_PROPS = _QUIET_PERSON | {d.COORDINATE}
_QUIET_PROPS = _QUIET | {d.COORDINATE}
Exempt = dict[str, Any]  # a trie of x-pii paths; a leaf is ``True``


class Scrubber:
    """The recursive PII scrub for one hasher; the policy is chosen per call."""

    def __init__(self, hasher: Hasher):
        self.hasher = hasher
        self._replacers: dict[str, Callable[[str, str], str]] = {
            "hash": self._hash_text, "mask": lambda kind, v: mask(unquote_plus(v)), "drop": lambda kind, v: "",
        }
        self._walks = {(p, c): _Walk(self, p, context=c) for p in POLICIES for c in (False, True)}

    def properties(
        self, props: dict[str, Any], *, policy: str = "hash", exempt: Exempt | None = None, person: bool = False
    ) -> dict[str, Any]:
        """Scrubbed ``props`` (``person``: the top level describes a person, as identify traits do)."""
        if policy == "keep":
            return props
        out = self._walks[policy, False].dict(props, 0, person, exempt, d.NONE)
        return {} if out is _DROP else out

    def context(self, ctx: dict[str, Any], *, policy: str = "hash") -> dict[str, Any]:
        """Scrubbed ``context``: as properties, plus coordinates removed and person data at its top."""
        return self._walks["drop" if policy == "keep" else policy, True].top(ctx)

    def value(self, cls: int, value: Any, policy: str) -> Any:
        """What a scalar under a key of class ``cls`` becomes (``_DROP`` to remove it)."""
        if cls == d.SECRET or cls == d.NETWORK:
            return _DROP
        if type(value) is bool or value is None or type(value) is float:
            return value
        if policy == "drop":
            return _DROP
        if cls == d.IDENTIFIER or policy == "hash":
            return self.hasher.hash_pii(value, email=_is_email(value))
        return mask(value)

    def text(self, text: str, policy: str) -> str:
        return d.redact_text(text, self._replacers[policy])

    def _hash_text(self, kind: str, value: str) -> str:
        plain = unquote_plus(value)
        return self.hasher.hash_pii(plain, email=kind == "email" or _is_email(plain))


class _Walk:
    """One scrub: the policy and whether this is ``context`` (coordinates dropped there)."""

    __slots__ = ("clean", "clean_contexts", "clean_person", "context", "policy", "quiet", "quiet_person", "s")

    def __init__(self, scrubber: Scrubber, policy: str, *, context: bool):
        self.s = scrubber
        self.policy = policy
        self.context = context
        # Key classes that change nothing about a scalar here (names matter only about a person).
        self.quiet = _QUIET if context else _QUIET_PROPS
        self.quiet_person = _QUIET_PERSON if context else _QUIET_PERSON_PROPS
        # Nested objects found clean, as JSON (one C call, no tuples built), with the deepest level
        # they were checked at (deeper, part of them could pass MAX_DEPTH): the same device/app/os
        # objects come with every event of a client, so most are answered by one lookup. Apart for
        # objects describing a person (their names are dropped).
        self.clean: dict[bytes, int] = {}
        self.clean_person: dict[bytes, int] = {}
        self.clean_contexts: set[bytes] = set()

    def top(self, ctx: dict[str, Any]) -> dict[str, Any]:
        """The whole ``context``: its known network/secret keys dropped, the rest looked up whole."""
        drop = ctx.keys() & d.DROPPED_SPELLINGS  # ``ip``, ``password``… in spellings seen before
        rest = {k: v for k, v in ctx.items() if k not in drop} if drop else ctx
        try:
            blob: bytes | None = orjson.dumps(rest, option=_DUMPS_OPTIONS)
        except TypeError:  # not plain JSON (orjson.JSONEncodeError is a TypeError): walk it
            blob = None
        if blob is not None and blob in self.clean_contexts:
            return rest
        out = self.dict(rest, 0, True, None, d.NONE)
        if out is rest and blob is not None:
            if len(self.clean_contexts) >= _CONTEXT_MEMO_MAX:
                self.clean_contexts.clear()
            self.clean_contexts.add(blob)
        return {} if out is _DROP else out

    def dict(self, node: dict[str, Any], depth: int, person: bool, exempt: Exempt | None, inherit: int) -> Any:
        if depth > MAX_DEPTH:
            return _DROP
        out: dict[str, Any] | None = None
        memo, clean, clean_person, dumps = _KEY_MEMO, self.clean, self.clean_person, orjson.dumps
        quiet = self.quiet_person if person else self.quiet
        for key, value in node.items():
            # Hot path, inlined: an ordinary key holding a number, an unsuspicious string or an object.
            cls = memo.get(key)
            if inherit == 0 and cls in quiet:
                kind = type(value)
                if kind is str:
                    if len(value) < 6:
                        continue
                    if (_PREFILTER_ASCII if value.isascii() else _PREFILTER)(value) is None:
                        continue
                elif kind is dict and exempt is None:
                    sub_person = cls == d.PERSON_CONTAINER
                    seen = clean_person if sub_person else clean
                    try:  # an object seen clean before (app, os, device…), at this depth or deeper
                        sig: bytes | None = dumps(value, option=_DUMPS_OPTIONS)
                    except TypeError:  # not plain JSON: walk it
                        sig = None
                    if sig is not None:
                        at = seen.get(sig)
                        if at is not None and depth <= at:
                            continue
                    new = self.dict(value, depth + 1, sub_person, None, 0)
                    if new is value and sig is not None:
                        if len(seen) >= _CLEAN_MAX:
                            seen.clear()
                        seen[sig] = max(depth, seen.get(sig, depth))
                    if new is not value:
                        out = dict(node) if out is None else out
                        if new is _DROP:
                            del out[key]
                        else:
                            out[key] = new
                    continue
                elif kind is not list and kind is not dict:
                    continue
            elif cls in _DROPPED and (exempt is None or key not in exempt):  # ip, password…: any value
                out = dict(node) if out is None else out
                del out[key]
                continue
            sub_exempt = None
            if exempt is not None and key in exempt:
                sub_exempt = exempt[key]
                if sub_exempt is True:
                    continue
            new = self.item(key, value, depth, person, sub_exempt, inherit)
            # an address or number used as a key: renamed like a value (such keys are never memoised)
            if cls is None and type(key) is str and d.key_class(key) == d.PII_KEY:
                out = dict(node) if out is None else out
                del out[key]
                if new is not _DROP:
                    out[self.s.text(key, "drop" if self.policy == "keep" else self.policy) or "_"] = new
                continue
            if new is not value:
                out = dict(node) if out is None else out
                if new is _DROP:
                    del out[key]
                else:
                    out[key] = new
        return node if out is None else out

    def item(self, key: str, value: Any, depth: int, person: bool, exempt: Exempt | None, inherit: int) -> Any:
        cls = d.key_class(key) if type(key) is str else d.NONE
        if cls == d.NONE:
            cls = inherit
        kind = type(value)
        if kind is dict or kind is list:
            if cls == d.SECRET or cls == d.NETWORK or (self.context and cls == d.COORDINATE):
                return _DROP
            if cls == d.PERSON and person:
                return _DROP
            down = cls if cls in _INHERITED else d.NONE
            if kind is dict:
                return self.dict(value, depth + 1, cls in _PERSON_SCOPE, exempt, down)
            return self.list(value, depth + 1, cls in _PERSON_SCOPE, exempt, down)
        return self.scalar(cls, value, person)

    def list(self, node: list[Any], depth: int, person: bool, exempt: Exempt | None, inherit: int) -> Any:
        if depth > MAX_DEPTH:
            return _DROP
        sub = exempt.get("*") if exempt is not None else None
        if sub is True:
            return node
        changed = False
        out = []
        for value in node:
            kind = type(value)
            if kind is dict:
                new = self.dict(value, depth + 1, person, sub, inherit)
            elif kind is list:
                new = self.list(value, depth + 1, person, sub, inherit)
            else:
                new = self.scalar(inherit, value, person)
            changed = changed or new is not value
            if new is not _DROP:
                out.append(new)
        return out if changed else node

    def scalar(self, cls: int, value: Any, person: bool) -> Any:
        if cls != d.NONE:
            if cls in _INHERITED:
                return self.s.value(cls, value, self.policy)
            if cls == d.COORDINATE and self.context:
                return _DROP
            if cls == d.PERSON and person:
                return _DROP if self.policy != "mask" else mask(value)
        if type(value) is str and len(value) >= 6 and _SUSPECT(value):
            new = self.s.text(value, self.policy)
            if new != value:
                return new if new or self.policy != "drop" else _DROP
        return value


def exempt_paths(plan: Plan) -> Exempt | None:
    """The x-pii paths of a plan as a trie: the scrub leaves them to their annotation."""
    paths = (*plan.hash, *plan.drop, *plan.mask, *plan.keep)
    if not paths:
        return None
    trie: Exempt = {}
    for path in paths:
        node = trie
        for part in path[:-1]:
            nxt = node.get(part)
            if nxt is True:
                break
            node = node.setdefault(part, {})
        else:
            node[path[-1]] = True
    return trie


def _is_email(value: Any) -> bool:
    return isinstance(value, str) and "@" in value


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
        props = _edit(props, path, lambda v, k: hasher.hash_pii(v, email=_is_email(v)))
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


__all__ = ["MAX_DEPTH", "POLICIES", "Scrubber", "apply_plan", "derive_email_domain", "exempt_paths", "pop_path"]
