"""``hexlake demo``: initialise if needed, start a server if none runs, send demo data over HTTP,
then print a short tour (counts, quarantine, top places, consumer lag) and where to look next."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from itertools import islice
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from hexlake.config import Settings
from hexlake.demo.generate import DemoWorld
from hexlake.errors import Conflict, HexlakeError, ServiceUnavailable
from hexlake.serve.client import ServerInfo, call_remote, find_server

console = Console()
BATCH = 500


def ensure_server(settings: Settings, port: int, start: bool) -> ServerInfo:
    info = find_server(settings)
    if info is not None:
        return info
    if not start:
        raise ServiceUnavailable("no server runs on this data dir; start one with `hexlake serve`")
    if not settings.paths.secret.exists():
        from hexlake.setup import initialise

        keys = initialise(settings)
        console.print(f"[green]Initialised[/] {keys['data_dir']}  write key: {keys['write_key']}  "
                      f"read key: {keys['read_key']}")
    # The server writes its JSON log itself, rotated by size (logging.*); the child's own stdout and
    # stderr (a crash before logging starts) go to a small file rewritten at each start.
    out = open(settings.paths.server_out, "wb")  # noqa: SIM115 - handed to the child
    cmd = [sys.executable, "-m", "hexlake.cli", "--data-dir", str(settings.data_dir), "serve", "--port", str(port)]
    env = {**os.environ, "HEXLAKE_LOGGING__FILE": str(server_log(settings))}
    subprocess.Popen(cmd, stdout=out, stderr=out, env=env, start_new_session=True)
    for _ in range(240):
        info = find_server(settings)
        if info is not None:
            return info
        time.sleep(0.25)
    raise ServiceUnavailable(f"the server did not start; see {server_log(settings)} and "
                             f"{settings.paths.server_out}")


def server_log(settings: Settings) -> Path:
    """Where the demo's server logs: ``logging.file`` if set, else ``server.log`` in the data dir."""
    file = settings.logging.file
    if file is None:
        return settings.paths.server_log.absolute()
    return (file if file.is_absolute() else settings.paths.root / file).absolute()


def _new_key(info: ServerInfo, op: str, field: str) -> str:
    """A fresh demo source / read key: ``demo``, else ``demo-1``, ``demo-2``… (names are unique)."""
    for attempt in range(100):
        name = "demo" if attempt == 0 else f"demo-{attempt}"
        try:
            return str(call_remote(info, op, name=name)[field])
        except HexlakeError as exc:
            if exc.status != 409:
                raise
    raise Conflict(f"could not create a demo key with {op}")


def _console_key(info: ServerInfo) -> str:
    """An admin key to sign in to the web console with (every page, quarantine and keys included)."""
    for attempt in range(100):
        name = "console" if attempt == 0 else f"console-{attempt}"
        try:
            return str(call_remote(info, "keys_create", kind="admin", name=name)["key"])
        except HexlakeError as exc:
            if exc.status != 409:
                raise
    raise Conflict("could not create a console key")


def _post(client: httpx.Client, batch: list[Any]) -> dict[str, Any]:
    for attempt in range(5):
        resp = client.post("/v1/events", json=batch)
        if resp.status_code < 500:
            return dict(resp.json())
        time.sleep(0.2 * 2**attempt)
    resp.raise_for_status()
    return {}


def send_events(info: ServerInfo, key: str, world: DemoWorld) -> dict[str, int]:
    events = list(world.events())
    totals = {"accepted": 0, "duplicates": 0, "quarantined": 0, "errors": 0}
    batches = [events[i:i + BATCH] for i in range(0, len(events), BATCH)]
    batches += [batches[0], world.malformed()]  # a retried batch (duplicates) and bad events
    cols = (TextColumn("sending demo events"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=info.url, headers=headers, timeout=60) as client, Progress(*cols) as bar:
        task = bar.add_task("send", total=sum(len(b) for b in batches))
        with ThreadPoolExecutor(4) as pool:
            for batch, result in zip(batches, pool.map(lambda b: _post(client, b), batches), strict=True):
                for k in ("accepted", "duplicates", "quarantined"):
                    totals[k] += result.get(k, 0)
                totals["errors"] += len(result.get("errors", []))
                bar.advance(task, len(batch))
    return totals


def send_places(info: ServerInfo, world: DemoWorld) -> int:
    """Register the demo's places (ids match the events' place_id); existing ones are kept. With the
    server's admin token: a write key sends events only."""
    created = 0
    with httpx.Client(base_url=info.url, headers={"Authorization": f"Bearer {info.admin_token}"},
                      timeout=30) as client:
        for p in world.places:
            body = {"id": str(p.id), "name": p.name, "category": p.category, "lat": p.lat, "lng": p.lng,
                    "attributes": {"city": p.city.name, "country": p.city.country}}
            resp = client.post("/v1/places", json=body)
            if resp.status_code not in (201, 409):
                raise ServiceUnavailable(f"could not register place {p.id}: {resp.text[:200]}")
            created += resp.status_code == 201
    return created


def _rows(info: ServerInfo, sql: str) -> list[dict[str, Any]]:
    r = call_remote(info, "query", sql=sql, limit=20)
    return [dict(zip(r["columns"], row, strict=True)) for row in r["rows"]]


def _table(title: str, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    t = Table(title=title, title_justify="left")
    for c in rows[0]:
        t.add_column(str(c))
    for r in rows:
        t.add_row(*[str(v) for v in r.values()])
    console.print(t)


def _nearby(info: ServerInfo, read_key: str) -> None:
    top = _rows(info, "SELECT lat, lng FROM raw_events WHERE event_type = 'location_ping' AND lat IS NOT NULL "
                      "ORDER BY ts DESC LIMIT 1")
    if not top:
        return
    lat, lng = top[0]["lat"], top[0]["lng"]
    resp = httpx.get(f"{info.url}/v1/places/nearby", params={"lat": lat, "lng": lng, "radius_m": 3000, "limit": 5},
                     headers={"Authorization": f"Bearer {read_key}"}, timeout=30)
    if resp.status_code == 200:
        body = resp.json()
        places = body.get("places", body) if isinstance(body, dict) else body
        _table(f"Places within 3 km of the latest ping ({lat:.4f}, {lng:.4f})", [
            {"id": p.get("id"), "name": p.get("name"), "distance_m": round(p.get("distance_m", 0))}
            for p in places[:5]])


def _marts(info: ServerInfo) -> None:
    """Build the SQLMesh marts now (the server's scheduler would within a minute) and show DAU/WAU/MAU."""
    console.print("building the marts (SQLMesh: raw → staging → marts)…")
    try:
        call_remote(info, "transform_run")
    except HexlakeError as exc:
        console.print(f"[yellow]transform run failed:[/] {exc.message}")
        return
    _table("Active users (marts.metrics_active_users)", _rows(
        info, "SELECT activity_date, dau, wau, mau, round(stickiness, 2) AS stickiness "
              "FROM marts.metrics_active_users ORDER BY activity_date DESC LIMIT 5"))


def loader_lag(info: ServerInfo) -> int:
    """Events in the log that the raw loader has not acknowledged yet (queued or in flight)."""
    groups = call_remote(info, "log_status")["groups"]
    return sum(int(g["lag"]) for g in groups if str(g["group"]).startswith("raw_loader"))


def wait_for_loader(info: ServerInfo, timeout_s: float = 300.0, poll_s: float = 0.2) -> int:
    """Load now and wait until ``raw_events`` holds every event of the log; returns the lag left.

    ``load_once`` alone is not enough: the server's background loader may hold a leased batch
    that ``load_once`` cannot read, so counts printed right after it can miss thousands of events.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        call_remote(info, "load_once")
        lag = loader_lag(info)
        if lag == 0 or time.monotonic() >= deadline:
            return lag
        time.sleep(poll_s)


def _recommend(info: ServerInfo, read_key: str) -> None:
    """Train a recommender on the demo's taste structure (docs/ml.md) and show one user's list with reasons."""
    console.print("training a recommender (hexlake ml dataset + train)…")
    try:
        data = call_remote(info, "ml_dataset", days=7)
        model = call_remote(info, "ml_train", test_days=2, promote=True)
    except HexlakeError as exc:
        console.print(f"[yellow]ml training skipped:[/] {exc.message}")
        return
    console.print(f"training set: {data['positives']} positives, {data['negatives']} negatives")
    _table(f"Model {model['version']} against baselines (held-out days)", [
        {"ranker": name, **{m: round(v, 3) for m, v in vals.items() if m != "lists"}}
        for name, vals in model["metrics"].items()])
    resp = httpx.get(f"{info.url}/v1/recommend", params={"user_id": "user-00001", "k": 5},
                     headers={"Authorization": f"Bearer {read_key}"}, timeout=60)
    if resp.status_code == 200:
        _table("Recommended for user-00001 (GET /v1/recommend)", [
            {"place": i.get("name"), "category": i.get("category"), "why": ", ".join(i["reasons"])}
            for i in resp.json()["items"]])


def tour(info: ServerInfo, totals: dict[str, int], keys: tuple[str, str], log_file: Path | None = None) -> None:
    write_key, read_key = keys
    with console.status("waiting for the loader to move every event into raw_events…"):
        left = wait_for_loader(info)
    if left:
        console.print(f"[yellow]the loader is still behind by {left} events; counts below are partial[/]")
    console.print(f"\n[bold]Sent[/]: {totals}")
    _table("Events in raw_events by type", _rows(
        info, "SELECT event_type, count(*) AS events, count(DISTINCT user_key) AS users "
              "FROM raw_events GROUP BY 1 ORDER BY 2 DESC"))
    q = call_remote(info, "quarantine_list", limit=5)
    _table("Quarantine (latest)", [
        {"id": i["id"], "event_type": i.get("event_type"), "reason": _reason(i)} for i in q["items"]])
    _table("Top places (interactions)", _rows(
        info, "SELECT json_extract_string(properties, '$.place_id') AS place_id, count(*) AS interactions, "
              "count(DISTINCT user_key) AS users FROM raw_events WHERE event_type = 'place_interaction' "
              "GROUP BY 1 ORDER BY 2 DESC LIMIT 5"))
    _nearby(info, read_key)
    _marts(info)
    _recommend(info, read_key)
    status = call_remote(info, "log_status")
    _table(f"Consumer groups (log head {status['head_offset']})", [
        {k: g[k] for k in ("group", "lag", "in_flight", "dead_letters")} for g in status["groups"]])
    console.print(
        f"\n[bold green]hexlake is running[/] at {info.url}\n"
        f"  API docs:      {info.url}/docs\n"
        f"  metrics:       {info.url}/metrics\n"
        f"  query:         .venv/bin/hexlake query \"SELECT count(*) FROM raw_events\"\n"
        f"  quarantine:    .venv/bin/hexlake quarantine list\n"
        f"  write key:     {write_key}   (source 'demo')\n"
        f"  read key:      {read_key}\n"
        f"  read API:      curl -H 'Authorization: Bearer {read_key}' {info.url}/v1/log/status\n"
        f"  server log:    {log_file or 'where the running server was told to log'}\n"
        f"  stop:          kill {info.pid}")
    console.print(  # last, so it is what `make demo` leaves on screen
        f"\n[bold green]Open the console[/]: {info.url}/\n"
        f"  sign in with:  {_console_key(info)}   (admin key; the read key above shows the read pages)")


def _reason(item: dict[str, Any]) -> str:
    msgs = (item.get("failure") or {}).get("messages") or item.get("messages") or []
    return "; ".join(str(m.get("message")) for m in islice(msgs, 2))[:100]


def run_demo(settings: Settings, *, users: int, days: int, start_server: bool, port: int, seed: int) -> None:
    started = find_server(settings) is None
    info = ensure_server(settings, port, start_server)
    log_file = server_log(settings) if started else None
    if log_file is not None:
        console.print(f"server log: {log_file}")
    key = _new_key(info, "sources_create", "write_key")
    read_key = _new_key(info, "read_keys_create", "read_key")
    world = DemoWorld(users=users, days=days, seed=seed)
    console.print(f"{len(world.cities)} cities, {len(world.places)} places, {len(world.users)} users")
    console.print(f"registered {send_places(info, world)} places")
    totals = send_events(info, key, world)
    tour(info, totals, (key, read_key), log_file)
