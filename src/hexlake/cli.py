"""The ``hexlake`` command line. Thin: each command calls one operation and prints the result.

While a server runs on the data dir, commands that touch the warehouse go through its API
(``cli_common.call``); otherwise they open the files themselves. Errors print ``Error: …`` and
exit 1; usage errors print the usage line and exit 2; ``--debug`` shows tracebacks.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from hexlake import __version__, plugins
from hexlake.cli_common import JsonOpt, call, emit, err, out, settings, show_flags_as_flags, table, use_data_dir
from hexlake.errors import HexlakeError, redact_secrets
from hexlake.serve import keys_cli

app = typer.Typer(
    name="hexlake",
    help="Privacy-first, location-aware event data platform: collect, protect, process, serve.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
sources_app = typer.Typer(help="Sources and their write keys.", no_args_is_help=True)
schemas_app = typer.Typer(help="The schema registry: one JSON Schema per event type and version.",
                          no_args_is_help=True)
quarantine_app = typer.Typer(help="Events refused by the gate: list, inspect, fix and replay.",
                             no_args_is_help=True)
log_app = typer.Typer(help="The durable event log.", no_args_is_help=True)
app.add_typer(sources_app, name="sources")
app.add_typer(schemas_app, name="schemas")
app.add_typer(quarantine_app, name="quarantine")
app.add_typer(log_app, name="log")
app.add_typer(keys_cli.app, name="keys")
app.command("doctor")(keys_cli.doctor)

_state: dict[str, Any] = {"debug": False}

class Format(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


class Policy(StrEnum):
    accept = "accept"
    quarantine = "quarantine"
    reject = "reject"


class QuarantineStatus(StrEnum):
    open = "open"
    replayed = "replayed"
    discarded = "discarded"


def _print_version(value: bool) -> None:
    if value:
        out.print(__version__)
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    data_dir: Annotated[Path | None, typer.Option(
        "--data-dir", envvar="HEXLAKE_DATA_DIR", help="Data directory (default ./.hexlake).")] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
    version: Annotated[bool, typer.Option(
        "--version", help="Print the version and exit.", callback=_print_version, is_eager=True)] = False,
) -> None:
    """hexlake: collect product and location events, protect them at the door, model and serve them."""
    use_data_dir(data_dir)
    _state["debug"] = debug
    # Plugin commands read this state; don't let it outlive the command (tests run many in one process).
    ctx.call_on_close(lambda: use_data_dir(None))


@app.command()
def version() -> None:
    """Print the hexlake version."""
    out.print(__version__)


@app.command()
def init(as_json: JsonOpt = False) -> None:
    """Initialise a data dir: HMAC secret (0600), default source + write key, read key, schemas."""
    from hexlake.setup import initialise

    result = initialise(settings())
    emit(result, as_json, lambda r: out.print(
        f"[green]Initialised[/] {r['data_dir']}\n  write key (source 'default'): {r['write_key']}\n"
        f"  read key: {r['read_key']}\nKeys are shown only once: keep them."))


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 8600).")] = None,
    background: Annotated[bool, typer.Option(
        help="Run the raw loader, scheduler and stream consumers in the server.")] = True,
    access_log: Annotated[bool, typer.Option(help="Log every request.")] = False,
) -> None:
    """Run the HTTP server (collector + read API + background services) on the data dir."""
    from hexlake.serve.run import run_server

    run_server(settings(), host=host, port=port, background=background, access_log=access_log)


@app.command()
def send(
    file: Annotated[Path, typer.Argument(help="NDJSON or JSON (object or array) file of events.", exists=True,
                                         dir_okay=False)],
    source: Annotated[str, typer.Option(help="Source the events are sent as.")] = "default",
    batch: Annotated[int, typer.Option(help="Events per batch.", min=1, max=2500)] = 1000,
    as_json: JsonOpt = False,
) -> None:
    """Send events from a file through the gate into the log, with a progress bar."""
    from hexlake.sendfile import send_file

    totals = send_file(settings(), file, source=source, batch=batch, progress=not as_json)
    emit(totals, as_json, lambda t: out.print(
        f"accepted {t['accepted']}, duplicates {t['duplicates']}, quarantined {t['quarantined']}, "
        f"errors {len(t['errors'])}"))
    if totals["errors"] and not as_json:
        for e in totals["errors"][:10]:
            err.print(f"  event {e['index']}: {'; '.join(m['message'] for m in e['messages'])}")
    if totals["errors"] or totals["quarantined"]:
        raise typer.Exit(2)


@app.command()
def query(
    sql: Annotated[str, typer.Argument(help="A read-only SQL query (SELECT/WITH/DESCRIBE/SHOW TABLES/SUMMARIZE).")],
    fmt: Annotated[Format, typer.Option("--format", help="Output format.")] = Format.table,
    limit: Annotated[int, typer.Option(help="Most rows returned.", min=1)] = 1000,
) -> None:
    """Query the warehouse (read-only, sandboxed and audited; see docs/security.md)."""
    result = call("query", sql=sql, limit=limit)
    cols, rows = result["columns"], result["rows"]
    if fmt is Format.json:
        sys.stdout.write(json.dumps([dict(zip(cols, r, strict=True)) for r in rows], default=str) + "\n")
    elif fmt is Format.csv:
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(cols)
        w.writerows(rows)
        sys.stdout.write(buf.getvalue())
    else:
        table([dict(zip(cols, r, strict=True)) for r in rows], cols)
    if result.get("truncated"):
        err.print(f"[yellow]Warning:[/] only the first {len(rows)} rows are shown (the result has more); "
                  "raise --limit (up to query.max_rows) or narrow the query", highlight=False)


@app.command()
def load(as_json: JsonOpt = False) -> None:
    """Move what is in the log now into the warehouse's raw_events (idempotent), then exit."""
    result = call("load_once")
    emit(result, as_json, lambda r: out.print(f"loaded {r['rows']} rows into raw_events"))


@app.command()
def demo(
    users: Annotated[int, typer.Option(help="Demo users.", min=1)] = 300,
    days: Annotated[int, typer.Option(help="Days of history.", min=1)] = 7,
    start_server: Annotated[bool, typer.Option(
        help="Initialise and start a server in the background if none runs.")] = True,
    port: Annotated[int, typer.Option(help="Port of the server to start.")] = 8600,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 7,
) -> None:
    """Generate realistic demo data through the HTTP API, then print a short tour."""
    from hexlake.demo.run import run_demo

    run_demo(settings(), users=users, days=days, start_server=start_server, port=port, seed=seed)


# --- sources ---------------------------------------------------------------------------------------
@sources_app.command("create")
def sources_create(
    name: Annotated[str, typer.Argument(help="Source name (letters, digits, - and _).")],
    unknown_events: Annotated[Policy, typer.Option(help="Policy for event types with no schema.")]
    = Policy.accept,
    geoip: Annotated[bool, typer.Option(
        help="Keep the country of the client IP (offline lookup); the IP itself is never stored.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Create a source and print its write key (shown once)."""
    r = call("sources_create", name=name, unknown_events=unknown_events.value, geoip=geoip)
    emit(r, as_json, lambda r: out.print(f"source {r['name']}: write key {r['write_key']}"))


@sources_app.command("list")
def sources_list(as_json: JsonOpt = False) -> None:
    """List sources (keys are stored hashed and never shown again)."""
    rows = call("sources_list")
    emit(rows, as_json, lambda r: table(r, ["name", "unknown_events", "created_at", "revoked_at"]))


@sources_app.command("revoke")
def sources_revoke(name: Annotated[str, typer.Argument(help="Source to revoke.")]) -> None:
    """Revoke a source's write key: its requests get 401 from now on."""
    call("sources_revoke", name=name)
    out.print(f"revoked source {name}")


# --- schemas ---------------------------------------------------------------------------------------
@schemas_app.command("list")
def schemas_list(as_json: JsonOpt = False) -> None:
    """List registered event types, versions and retention classes."""
    rows = call("schemas_list")
    emit(rows, as_json, lambda r: table(r, ["event_type", "version", "retention"]))


@schemas_app.command("show")
def schemas_show(
    event_type: Annotated[str, typer.Argument(help="Event type.")],
    version: Annotated[int | None, typer.Option(help="Version (default latest).")] = None,
) -> None:
    """Print one schema as JSON."""
    emit(call("schemas_show", event_type=event_type, version=version), True)


@schemas_app.command("add")
def schemas_add(file: Annotated[Path, typer.Argument(help="JSON Schema file with x-event-type and x-version.",
                                                     exists=True, dir_okay=False)]) -> None:
    """Register a new schema (or version)."""
    schema = _read_json(file)
    r = call("schemas_add", schema=schema)
    out.print(f"registered {r.get('event_type')} v{r.get('version')}")


@schemas_app.command("validate")
def schemas_validate(file: Annotated[Path, typer.Argument(help="JSON Schema file to check.", exists=True,
                                                          dir_okay=False)]) -> None:
    """Check a schema file is valid JSON Schema with hexlake's annotations (nothing is stored)."""
    from hexlake.gate.registry import check_schema

    info = check_schema(_read_json(file))
    out.print(f"[green]valid[/]: {info}")


def _read_json(file: Path) -> Any:
    try:
        return json.loads(file.read_text())
    except (OSError, ValueError) as exc:
        raise HexlakeError(f"{file} is not readable JSON: {exc}") from exc


# --- quarantine ------------------------------------------------------------------------------------
@quarantine_app.command("list")
def quarantine_list(
    status: Annotated[QuarantineStatus, typer.Option(help="Which events to list.")] = QuarantineStatus.open,
    event_type: Annotated[str | None, typer.Option(help="Only this event type.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    as_json: JsonOpt = False,
) -> None:
    """List quarantined events with their failure reasons."""
    r = call("quarantine_list", status=status.value, event_type=event_type, limit=limit)
    emit(r, as_json, lambda r: table(
        [{**i, "reason": _reason(i)} for i in r["items"]], ["id", "source", "event_type", "failed_at", "reason"]))


def _reason(item: dict[str, Any]) -> str:
    failure = item.get("failure") or {}
    msgs = failure.get("messages") or item.get("messages") or []
    return "; ".join(f"{m.get('path')}: {m.get('message')}" for m in msgs)[:120]


@quarantine_app.command("show")
def quarantine_show(id: Annotated[int, typer.Argument(help="Quarantine id.")]) -> None:
    """Print one quarantined event: payload and failure record."""
    emit(call("quarantine_show", id=id), True)


@quarantine_app.command("fix")
def quarantine_fix(
    id: Annotated[int, typer.Argument(help="Quarantine id.")],
    file: Annotated[Path, typer.Argument(help="JSON file with the corrected event.", exists=True)],
) -> None:
    """Replace a quarantined event's payload with a corrected one (then `replay` it)."""
    call("quarantine_fix", id=id, payload=_read_json(file))
    out.print(f"updated quarantined event {id}; run `hexlake quarantine replay {id}`")


@quarantine_app.command("replay")
def quarantine_replay(
    ids: Annotated[list[int] | None, typer.Argument(help="Ids to replay (default: all open).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Send quarantined events through the gate again; those that pass go into the log."""
    r = call("quarantine_replay", ids=ids or None)
    emit(r, as_json, lambda r: out.print(
        f"replayed {len(r['replayed'])}, still failing {len(r['still_failing'])}"))


# --- log -------------------------------------------------------------------------------------------
@log_app.command("status")
def log_status(as_json: JsonOpt = False) -> None:
    """Per consumer group: lag, in flight, dead letters."""
    r = call("log_status")
    def render(r: dict[str, Any]) -> None:
        out.print(f"head offset {r['head_offset']}")
        table(r["groups"], ["group", "lag", "in_flight", "dead_letters", "last_acked_offset"])

    emit(r, as_json, render)


for _name, _ref, _help in plugins.CLI_APPS:
    app.add_typer(plugins.load(_ref), name=_name, help=_help)


def main() -> None:
    command = typer.main.get_command(app)
    show_flags_as_flags(command)
    try:
        rv = command.main(prog_name="hexlake", standalone_mode=False)
    except (typer.Abort, KeyboardInterrupt):
        err.print("Aborted.")
        sys.exit(130)
    except typer.TyperException as exc:  # usage errors (typer's click): usage line, hint, exit 2
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            err.print(f"[red]Error:[/] {exc.format_message()}", highlight=False)
        sys.exit(exc.exit_code)
    except ValidationError as exc:
        if _state["debug"]:
            raise
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        err.print(f"[red]Error:[/] invalid configuration: {problems}", highlight=False)
        sys.exit(1)
    except HexlakeError as exc:
        if _state["debug"]:
            raise
        field = f" (field: {exc.field})" if exc.field else ""
        err.print(f"[red]Error:[/] {exc.message}{field}", highlight=False)
        sys.exit(1)
    except Exception as exc:
        if _state["debug"]:
            raise
        shown = redact_secrets(str(exc))
        err.print(f"[red]Error:[/] unexpected {type(exc).__name__}: {shown} (run with --debug for details)",
                  highlight=False)
        sys.exit(1)
    sys.exit(rv if isinstance(rv, int) else 0)


if __name__ == "__main__":
    # Run the importable copy: plugin commands read its state (``--data-dir``), not ``__main__``'s.
    from hexlake.cli import main as _main

    _main()
