"""Every ``hexlake`` command gives the same result with a server running on the data dir and without.

One scenario (the table ``COMMANDS``) runs twice, in order: on a data dir no server ever touches, and
on a second one that a ``hexlake serve`` owns (one server for the module). The CLI runs in this
process (``hexlake.cli.main``: the real argument parsing and error handling) so the scenario takes
seconds, not a subprocess start per command. Outputs are compared after normalising what differs by
nature: keys, generated ids, timestamps, durations and the data dir paths.

A command added to ``hexlake --help`` without a row here fails ``test_every_command_has_a_row``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import typer.main

from hexlake.cli import app
from tests.cli.inproc import Result, run_cli
from tests.conftest import ensure_service, unique_name
from tests.helpers import Server, init
from tests.importers.fixtures import takeout_files, write_zip

pytestmark = [pytest.mark.slow, pytest.mark.services]



@dataclass(frozen=True)
class Cmd:
    """One command line of the scenario. ``{placeholders}`` are filled per data dir (see ``_vars``)."""

    args: tuple[str, ...]
    exit: int = 0
    as_json: bool = True  # compare stdout as parsed JSON (else as normalised text)
    by_nature: tuple[str, str] | None = None  # (key, value): list items that differ by nature, not compared
    remote_exit: int | None = None  # when the command must refuse while a server owns the data dir


# (command path as in `hexlake --help`, the run) or (path, why it is not run both ways)
COMMANDS: list[tuple[str, Cmd | str]] = [
    ("version", Cmd(("version",), as_json=False)),
    ("init", Cmd(("init",), exit=1, as_json=False)),  # already initialised: refused on both paths
    ("serve", "it is the server; tests/serve start it"),
    ("demo", "starts its own server and sends data over HTTP; tests/demo cover it"),
    ("worker", Cmd(("worker", "--until-idle", "--only", "counters"), as_json=False)),
    # The loader writes the warehouse: a server holding the DuckDB file makes the worker refuse, clearly.
    ("worker", Cmd(("worker", "--until-idle", "--only", "loader"), as_json=False, remote_exit=1)),
    ("sources create", Cmd(("sources", "create", "mobile", "--unknown-events", "quarantine", "--json"))),
    ("sources list", Cmd(("sources", "list", "--json"))),
    ("sources revoke", Cmd(("sources", "revoke", "mobile"), as_json=False)),
    ("schemas add", Cmd(("schemas", "add", "{files}/schema.json"), as_json=False)),
    ("schemas validate", Cmd(("schemas", "validate", "{files}/schema.json"), as_json=False)),
    ("schemas list", Cmd(("schemas", "list", "--json"))),
    ("schemas show", Cmd(("schemas", "show", "cli_test_event"))),
    ("send", Cmd(("send", "{files}/events.ndjson", "--json"), exit=2)),  # one event is quarantined
    ("quarantine list", Cmd(("quarantine", "list", "--json"))),
    ("quarantine show", Cmd(("quarantine", "show", "1"))),
    ("quarantine fix", Cmd(("quarantine", "fix", "1", "{files}/fixed.json"), as_json=False)),
    ("quarantine replay", Cmd(("quarantine", "replay", "--json"))),
    ("load", Cmd(("load", "--json"))),
    ("log status", Cmd(("log", "status", "--json"))),
    ("query", Cmd(("query", "SELECT event_type, count(*) AS n FROM raw_events GROUP BY 1 ORDER BY 1",
                   "--format", "json"))),
    ("transform plan", Cmd(("transform", "plan", "--execution-time", "2026-11-21T00:00:00Z", "--json"))),
    ("transform run", Cmd(("transform", "run", "--execution-time", "2026-11-21T00:00:00Z", "--json"))),
    ("transform restate", Cmd(("transform", "restate", "--from", "2026-11-20", "--to", "2026-11-20", "--json"))),
    ("transform status", Cmd(("transform", "status", "--json"))),
    ("transform history", Cmd(("transform", "history", "--json"))),
    ("transform freshness", Cmd(("transform", "freshness", "--json"))),
    ("places add", Cmd(("places", "add", "p1", "--name", "Fountain", "--lat", "41.9009", "--lng", "12.4833",
                        "--category", "sight", "--json"))),
    ("places load", Cmd(("places", "load", "{files}/places.csv", "--json"), exit=1)),  # one bad row
    ("places update", Cmd(("places", "update", "p1", "--name", "Trevi", "--json"))),
    ("places get", Cmd(("places", "get", "p1", "--json"))),
    ("places list", Cmd(("places", "list", "--json"))),
    ("places nearby", Cmd(("places", "nearby", "--lat", "41.9", "--lng", "12.48", "--radius-m", "1000",
                           "--json"))),
    ("places delete", Cmd(("places", "delete", "p1"), as_json=False)),
    ("places cluster", Cmd(("places", "cluster", "--json"))),
    ("geofences create", Cmd(("geofences", "create", "--name", "centre", "--lat", "41.9", "--lng", "12.48",
                              "--radius-m", "300", "--json"))),
    ("geofences list", Cmd(("geofences", "list", "--json"))),
    ("geofences delete", Cmd(("geofences", "delete", "{fence}"), as_json=False)),
    ("geofences webhook-key", Cmd(("geofences", "webhook-key"), as_json=False)),
    ("import takeout", Cmd(("import", "takeout", "{files}/takeout.zip", "--user", "alice", "--json"))),
    ("import status", Cmd(("import", "status", "--json"))),
    ("import resume", Cmd(("import", "resume", "{import}", "--user", "alice"), exit=1, as_json=False)),  # done
    ("extract", Cmd(("extract", "--source", "{pg}", "--tables", "users", "--cursor", "updated_at",
                     "--pii", "users.email=hash", "--json"))),
    ("sync run", Cmd(("sync", "run", "--target", "parquet://{lake}", "--tables", "raw_events", "--json"))),
    ("sync status", Cmd(("sync", "status", "--json"))),
    ("tiers move", Cmd(("tiers", "move", "--older-than-days", "3650", "--json"))),
    ("tiers status", Cmd(("tiers", "status", "--json"))),
    ("keys create", Cmd(("keys", "create", "--kind", "read", "--name", "reporting", "--json"))),
    ("keys create", Cmd(("keys", "create", "--kind", "read", "--name", "temporary", "--json"))),
    ("keys revoke", Cmd(("keys", "revoke", "temporary", "--json"))),
    ("keys rotate", Cmd(("keys", "rotate", "reporting", "--json"))),
    ("keys list", Cmd(("keys", "list", "--all", "--json"))),
    ("doctor", Cmd(("doctor", "--json"), by_nature=("check", "server"))),
    ("audit list", Cmd(("audit", "list", "--json"))),
    ("audit purge", Cmd(("audit", "purge", "--json"))),
    ("pipeline list", Cmd(("pipeline", "list", "--json"))),
    ("pipeline run", Cmd(("pipeline", "run", "no-such-pipeline"), exit=1, as_json=False)),
    ("pipeline history", Cmd(("pipeline", "history", "--json"))),
    ("ml dataset", Cmd(("ml", "dataset", "--days", "30", "--json"))),
    ("ml train", Cmd(("ml", "train", "--json"), exit=1, as_json=False)),  # the scenario has no place interactions
    ("ml models list", Cmd(("ml", "models", "list", "--json"))),
    ("ml models promote", Cmd(("ml", "models", "promote", "v999"), exit=1, as_json=False)),
    ("privacy export", Cmd(("privacy", "export", "--user", "u1", "--out", "{lake}.zip", "--json"))),
    ("privacy retention", Cmd(("privacy", "retention", "--dry-run", "--json"))),
    ("privacy erase", Cmd(("privacy", "erase", "--user", "u2", "--json"))),
    ("backup create", "archive size and row counts follow the services a server runs; "
                      "tests/backup create through a running server and locally"),
    ("backup list", Cmd(("backup", "list", "--json"))),
    ("backup verify", Cmd(("backup", "verify", "hexlake-20260101T000000Z"), exit=1, as_json=False)),
    ("backup restore", Cmd(("backup", "restore", "nonsense", "--target", "{lake}-restored"), exit=1,
                           as_json=False)),
]

# Values that differ between two runs by nature, whatever the path.
VOLATILE_KEYS = {"duration_ms", "started_at", "finished_at", "created_at", "updated_at", "last_success",
                 "lag_seconds", "behind_raw_seconds", "stale_seconds", "built_as_of", "last_synced_at",
                 "computed_at", "run_id", "elapsed_s",
                 "write_key", "read_key", "sha256", "high_water", "failed_at", "replayed_at", "revoked_at",
                 "extracted_at", "rate", "records_per_s", "mb_per_s", "seconds", "step_seconds", "execution_time_ms",
                 "elapsed_ms", "duration_s"}
PATTERNS = [
    (re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"), "<uuid>"),
    (re.compile(r"\bimp_[A-Za-z0-9_-]+"), "<import>"),
    (re.compile(r"\bhx[wra]_[A-Za-z0-9_-]+"), "<key>"),
    (re.compile(r"\bk_[0-9a-f]{12}\b"), "<key_id>"),
    (re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:?\d\d)?"), "<time>"),
    (re.compile(r"\b\d+(\.\d+)? ?(s|ms)\b"), "<duration>"),
]


def normalise(value: Any, paths: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {normalise(k, paths): "<v>" if k in VOLATILE_KEYS and v is not None else normalise(v, paths)
                for k, v in value.items()}
    if isinstance(value, list):
        return [normalise(v, paths) for v in value]
    if isinstance(value, str):
        for path, name in paths.items():
            value = value.replace(path, name)
        for pattern, repl in PATTERNS:
            value = pattern.sub(repl, value)
    return value


def _write_files(files: Path) -> None:
    files.mkdir()
    events = [{"event_id": f"e{i}", "event_type": "location_ping", "user_id": f"u{i % 4}",
               "timestamp": f"2026-11-20T10:{i:02d}:00Z", "location": {"lat": 41.9 + i * 1e-4, "lng": 12.48}}
              for i in range(12)]
    events += [{"event_id": f"t{i}", "event_type": "track", "user_id": f"u{i % 3}",
                "timestamp": f"2026-11-20T11:{i:02d}:00Z", "properties": {"event": "tap"}} for i in range(5)]
    events.append({"event_id": "bad1", "event_type": "cli_test_event", "user_id": "u1",
                   "timestamp": "2026-11-20T12:00:00Z", "properties": {"size": "large"}})
    (files / "events.ndjson").write_text("\n".join(json.dumps(e) for e in events) + "\n")
    fixed = {**events[-1], "properties": {"size": 3}}
    (files / "fixed.json").write_text(json.dumps(fixed))
    (files / "schema.json").write_text(json.dumps({
        "$schema": "https://json-schema.org/draft/2020-12/schema", "x-event-type": "cli_test_event",
        "x-version": 1, "x-retention": "interaction", "type": "object",
        "properties": {"size": {"type": "integer"}}, "required": ["size"]}))
    (files / "places.csv").write_text("id,name,category,lat,lng\nc1,Cafe One,cafe,41.901,12.481\n"
                                      "c2,Cafe Two,cafe,41.902,12.482\nbad,Nowhere,cafe,95,12.4\n")
    write_zip(files / "takeout.zip", takeout_files(records=5))


def _fill(args: tuple[str, ...], values: dict[str, str]) -> list[str]:
    return [a.format(**values) for a in args]


def _scenario(data: Path, values: dict[str, str]) -> list[Result]:
    results = []
    for _, row in COMMANDS:
        if isinstance(row, str):
            results.append(Result(0, None, ""))
            continue
        r = run_cli(data, *_fill(row.args, values))
        if row.as_json and r.code == row.exit and r.out.strip():
            r.out = json.loads(r.out)
        if isinstance(r.out, dict) and "id" in r.out and row.args[:2] == ("geofences", "create"):
            values["fence"] = r.out["id"]
        if isinstance(r.out, dict) and str(r.out.get("id", "")).startswith("imp_"):
            values["import"] = r.out["id"]
        results.append(r)
    return results


@pytest.fixture(scope="module")
def pg_source() -> Iterator[str]:
    """A PostgreSQL database with a small ``users`` table for ``hexlake extract``."""
    ensure_service(5432)
    import psycopg

    name = unique_name("hexlake_cli")
    admin = "postgresql://postgres@127.0.0.1:5432/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql://postgres@127.0.0.1:5432/{name}"
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE users (id int PRIMARY KEY, email text, updated_at timestamp)")
            conn.execute("INSERT INTO users SELECT i, 'u' || i || '@example.com', "
                         "timestamp '2026-11-01' + i * interval '1 hour' FROM generate_series(1, 20) i")
        yield url
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, pg_source: str) -> dict[str, list[Any]]:
    """The scenario on a data dir without a server, then on one a server owns; normalised results."""
    # Every real `hexlake` runs in its own process; here many run in one, and SQLMesh must patch
    # sqlglot's dialects before anything else parses SQL with it (`hexlake query`'s read-only check
    # does), or loading the models later fails with "Unsupported expression type Model".
    import sqlmesh.core.dialect  # noqa: F401

    root = tmp_path_factory.mktemp("both")
    files = root / "files"
    _write_files(files)
    out: dict[str, list[Any]] = {}
    for path in ("local", "remote"):
        data, lake = root / path, root / f"lake-{path}"
        init(data)
        if path == "remote":  # same HMAC secret: hashed user ids and the webhook key are comparable
            (data / "secret.key").write_bytes((root / "local" / "secret.key").read_bytes())
        values = {"files": str(files), "pg": pg_source, "lake": str(lake), "fence": "none", "import": "none"}
        paths = {str(data): "<data>", str(lake): "<lake>", str(files): "<files>"}
        if path == "local":
            results = _scenario(data, values)
        else:
            with Server(data, background=False):
                results = _scenario(data, values)
        out[path] = [Result(r.code, normalise(r.out, paths), r.err) for r in results]
    return out


def _leaf_commands(command: Any, path: tuple[str, ...] = ()) -> Iterator[str]:
    subs = getattr(command, "commands", {})
    if not subs or (path and getattr(command, "invoke_without_command", False)):
        yield " ".join(path)
    for name, sub in subs.items():
        yield from _leaf_commands(sub, (*path, name))


def test_every_command_has_a_row() -> None:
    commands = set(_leaf_commands(typer.main.get_command(app)))
    rows = {name for name, _ in COMMANDS}
    assert not commands - rows, f"commands missing from COMMANDS: {sorted(commands - rows)}"
    assert not rows - commands, f"rows for commands that do not exist: {sorted(rows - commands)}"


@pytest.mark.parametrize("index", range(len(COMMANDS)), ids=[f"{i:02d}-{name}" for i, (name, _) in
                                                            enumerate(COMMANDS)])
def test_command_gives_the_same_result_with_and_without_a_server(runs: dict[str, list[Any]], index: int) -> None:
    name, row = COMMANDS[index]
    if isinstance(row, str):
        pytest.skip(f"{name}: {row}")
    local, remote = runs["local"][index], runs["remote"][index]
    if row.by_nature is not None:
        key, value = row.by_nature
        local.out, remote.out = ([i for i in r.out if i.get(key) != value] for r in (local, remote))
    assert local.code == row.exit, f"without a server: {local}"
    assert "Traceback" not in local.err + remote.err
    if row.remote_exit is not None:
        assert remote.code == row.remote_exit and remote.err.startswith("Error: ") and "lock" not in remote.err
        return
    assert remote.code == row.exit, f"with a server: {remote}"
    assert local.out == remote.out
