"""``hexlake keys …`` (every kind of key: create, list, revoke, rotate) and ``hexlake doctor``."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

import typer

from hexlake.cli_common import JsonOpt, call, emit, out, settings, table

app = typer.Typer(help="Keys of every kind (write, read, admin, subject): create, list, revoke, rotate.",
                  no_args_is_help=True)


class Kind(StrEnum):
    write = "write"
    read = "read"
    admin = "admin"
    subject = "subject"


def _csv(value: str | None) -> list[str] | None:
    return None if value is None else [v.strip() for v in value.split(",") if v.strip()]


def _kind(kind: Kind | None, source: str | None, subject: str | None) -> str:
    if kind is not None:
        return kind.value
    return "subject" if subject is not None else "write" if source is not None else "read"


def _shown(row: dict[str, Any]) -> None:
    scope = row.get("source") or (f"user_key {str(row['subject'])[:12]}…" if row.get("subject") else "")
    limits = ", ".join(f"{k}={','.join(row[k])}" for k in ("apis", "marts", "columns") if row.get(k))
    out.print(f"{row['kind']} key {row['id']} ({row['name']}{', ' + scope if scope else ''})"
              f"{'; ' + limits if limits else ''}{'; expires ' + row['expires_at'] if row.get('expires_at') else ''}")
    out.print(f"  key: {row['key']}\nShown only once: keep it.")


@app.command("create")
def keys_create(
    kind: Annotated[Kind | None, typer.Option(
        help="Kind of key (default: subject with --subject, write with --source, else read).")] = None,
    name: Annotated[str | None, typer.Option(help="A name to find the key by (default: source or kind).")] = None,
    source: Annotated[str | None, typer.Option(help="Write keys: the source they send as.")] = None,
    subject: Annotated[str | None, typer.Option(
        help="Subject tokens: the person's user id (stored only as its HMAC, like the gate's user_key).")] = None,
    apis: Annotated[str | None, typer.Option(help="Read keys: comma-separated APIs (default all). Write keys: "
                                              "what they may manage besides sending events: places, geofences "
                                              "(default none).")] = None,
    marts: Annotated[str | None, typer.Option(help="Read keys: comma-separated marts (default all).")] = None,
    columns: Annotated[str | None, typer.Option(
        help="Read keys: comma-separated column allow-list (`col` or `mart.col`; default all).")] = None,
    rate: Annotated[str | None, typer.Option(help="Rate limit, e.g. 100/s, 6000/min (default from settings).")]
    = None,
    expires_in: Annotated[str | None, typer.Option(help="Expiry, e.g. 30d, 12h (default never).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a key and print it (shown once; only its SHA-256 digest is stored)."""
    row = call("keys_create", kind=_kind(kind, source, subject), name=name, source=source, subject=subject,
               apis=_csv(apis), marts=_csv(marts), columns=_csv(columns), rate=rate, expires_in=expires_in)
    emit(row, as_json, _shown)


@app.command("list")
def keys_list(
    all: Annotated[bool, typer.Option("--all", help="Include revoked, expired and rotated keys.")] = False,
    kind: Annotated[Kind | None, typer.Option(help="Only keys of this kind.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List keys (never their values): id, kind, scope, expiry and status."""
    rows = call("keys_list", all=all, kind=kind.value if kind else None)
    emit(rows, as_json, lambda rs: table(
        [{**r, "scope": _scope(r)} for r in rs], ["id", "kind", "name", "scope", "rate", "expires_at", "status"]))


def _scope(row: dict[str, Any]) -> str:
    if row.get("source"):  # a write key: events, plus what it may manage
        return f"source {row['source']}" + (f"; manages {','.join(row['apis'])}" if row.get("apis") else "")
    if row.get("subject"):
        return f"user_key {str(row['subject'])[:12]}…"
    parts = [f"{k} {','.join(row[k])}" for k in ("apis", "marts", "columns") if row.get(k)]
    return "; ".join(parts) or ("all reads" if row["kind"] == "read" else "everything" if row["kind"] == "admin"
                                else "")


@app.command("revoke")
def keys_revoke(
    key: Annotated[str, typer.Argument(help="Key id (k_…) or name.")],
    kind: Annotated[Kind | None, typer.Option(help="When several keys share the name: the kind.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Revoke a key: requests with it get 401 within a second."""
    row = call("keys_revoke", key=key, kind=kind.value if kind else None)
    emit(row, as_json, lambda r: out.print(f"revoked {r['kind']} key {r['id']} ({r['name']})"))


@app.command("rotate")
def keys_rotate(
    key: Annotated[str, typer.Argument(help="Key id (k_…) or name.")],
    kind: Annotated[Kind | None, typer.Option(help="When several keys share the name: the kind.")] = None,
    grace: Annotated[str | None, typer.Option(
        help="How long the old key keeps working, e.g. 1h, 0s (default serve.rotation_grace, 24h).")] = None,
    expires_in: Annotated[str | None, typer.Option(help="Expiry of the new key (default: the old key's span).")]
    = None,
    as_json: JsonOpt = False,
) -> None:
    """Replace a key with a new one of the same kind and scopes; print the new key (shown once)."""
    row = call("keys_rotate", key=key, kind=kind.value if kind else None, grace=grace, expires_in=expires_in)
    emit(row, as_json, _shown)


def doctor(
    fix: Annotated[bool, typer.Option("--fix", help="Tighten file modes of the data dir (dirs 0700, files 0600).")]
    = False,
    as_json: JsonOpt = False,
) -> None:
    """Check the data dir (secret, file modes), the server and the configured services; exit 1 on a problem."""
    import msgspec

    from hexlake.ops.doctor import diagnose

    checks = [msgspec.to_builtins(c) for c in diagnose(settings(), fix=fix)]
    emit(checks, as_json, lambda cs: table(
        [{**c, "ok": "ok" if c["ok"] else "PROBLEM"} for c in cs], ["check", "ok", "detail"]))
    if not all(c["ok"] for c in checks):
        raise typer.Exit(1)


__all__ = ["app", "doctor"]
