"""Property: PII planted at random nested paths, under any key spelling or inside free text, through
every way in (native /v1/events, the SDK's wire format, Segment, PostHog) never reaches a byte of
the data dir (WAL files included), the PostgreSQL log, Redis (log, online store, counters) or the
server's log. Bounded examples; each example is one request per route."""

from __future__ import annotations

import base64
import itertools
from pathlib import Path
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hexlake.config import Settings
from hexlake.serve.app import create_app
from hexlake.setup import initialise

pytestmark = [pytest.mark.slow]

_n = itertools.count()
CONTACT_KEYS = ["email", "Email", "E-Mail", "email_address", "userEmail", "phone", "phone_number", "Mobile",
                "telephone", "ip", "IP_Address", "remote_addr", "X-Forwarded-For", "clientIp"]
ID_KEYS = ["user_id", "userId", "uid", "UserID", "distinct_id", "customerId"]
PLAIN_KEYS = ["note", "comment", "query", "url", "label", "x"]


def fresh(kind: str) -> str:
    """A unique PII value of ``kind`` (unique so its bytes identify this example only)."""
    i = next(_n) + 100
    return {"email": f"pii{i}.planted@example.org", "phone": f"+1 415 555 {1000 + i % 9000}",
            "ip": f"203.0.{i % 250}.{(i * 7) % 250 + 1}", "id": f"plainid-{i}-zq"}[kind]


@st.composite
def planted(draw: Any) -> tuple[dict[str, Any], list[str]]:
    """A nested object holding PII at random depths (objects and lists), and the plain values."""
    values: list[str] = []

    def leaf() -> tuple[str, Any]:
        how = draw(st.sampled_from(["contact", "id", "text", "url"]))
        if how == "contact":
            key = draw(st.sampled_from(CONTACT_KEYS))
            kind = "ip" if "ip" in key.lower() or "addr" in key.lower() or "forward" in key.lower() else (
                "email" if "mail" in key.lower() else "phone")
            value = fresh(kind)
        elif how == "id":
            key, value = draw(st.sampled_from(ID_KEYS)), fresh("id")
        elif how == "text":
            key, kind = draw(st.sampled_from(PLAIN_KEYS)), draw(st.sampled_from(["email", "phone", "ip"]))
            value = fresh(kind)
            values.append(value)
            return key, f"please reach me at {value} tomorrow"
        else:
            key, value = "url", fresh("email")
            values.append(value)
            return key, f"https://shop.example/p?ref=x&email={value.replace('@', '%40')}&id=7"
        values.append(value)
        return key, value

    def node(depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for _ in range(draw(st.integers(1, 3))):
            shape = draw(st.sampled_from(["leaf", "obj", "list"])) if depth < 4 else "leaf"
            if shape == "leaf":
                key, value = leaf()
                out[key] = value
            elif shape == "obj":
                out[draw(st.sampled_from(["user", "contact", "meta", "traits", "a", "$set"]))] = node(depth + 1)
            else:
                out[draw(st.sampled_from(["contacts", "items", "devices"]))] = [node(depth + 1)]
        return out

    return node(0), values


def basic(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


def send_everywhere(client: TestClient, key: str, props: dict[str, Any], ctx: dict[str, Any]) -> None:
    i = next(_n)
    bearer = {"Authorization": f"Bearer {key}"}
    native = {"event_id": f"n{i}", "event_type": "track", "user_id": f"u{i}",
              "properties": {"event": "Planted", **props}, "context": ctx}
    assert client.post("/v1/events", json=[native], headers=bearer).status_code == 200
    sdk = {**native, "event_id": f"s{i}", "sent_at": "2026-12-01T10:00:00Z", "timestamp": "2026-12-01T09:59:59Z"}
    assert client.post("/v1/events", json={"batch": [sdk]}, headers=bearer).status_code in (200, 400)
    seg = {"userId": f"su{i}", "event": "Planted", "properties": props, "context": ctx, "messageId": f"m{i}"}
    assert client.post("/v1/track", json=seg, headers=basic(key)).status_code == 200
    ident = {"userId": f"su{i}", "traits": props, "context": ctx, "messageId": f"mi{i}"}
    assert client.post("/v1/identify", json=ident, headers=basic(key)).status_code == 200
    ph = {"api_key": key, "event": "planted", "distinct_id": f"ph{i}", "uuid": f"00000000-0000-4000-8000-{i:012d}",
          "properties": {**props, "$set": props, "$ip": "203.0.113.250"}}
    assert client.post("/capture/", json=ph).status_code == 200


def bytes_of(root: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file())


def redis_bytes(prefix: str) -> bytes:
    client: Any = redis.Redis.from_url("redis://127.0.0.1:6379/0")  # bytes in, bytes out
    try:
        out = []
        for key in client.scan_iter(match=f"{prefix}*", count=1000):
            out.append(key)
            kind = client.type(key)
            if kind == b"string":
                out.append(client.get(key) or b"")
            elif kind == b"hash":
                out += [k + v for k, v in client.hgetall(key).items()]
            elif kind == b"stream":
                out += [b"".join(k + v for k, v in fields.items()) for _, fields in client.xrange(key)]
            elif kind == b"zset":
                out += [m for m, _ in client.zscan_iter(key)]
        return b"".join(out)
    finally:
        client.close()


def run_property(data_dir: Path, **urls: Any) -> tuple[list[str], bytes]:
    cfg = Settings(data_dir=data_dir, **urls)
    keys = initialise(cfg)
    app = create_app(cfg, background=False)
    planted_values: list[str] = []
    with TestClient(app) as client:

        @settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(props=planted(), ctx=planted())
        def plant(props: tuple[dict[str, Any], list[str]], ctx: tuple[dict[str, Any], list[str]]) -> None:
            send_everywhere(client, keys["write_key"], props[0], ctx[0])
            planted_values.extend(props[1] + ctx[1])

        plant()
        runtime = app.state.runtime
        from hexlake.serve import operations as ops
        from hexlake.stream.runner import build_consumers

        while ops.get("load_once")(runtime).get("rows", 0):
            pass
        for consumer in build_consumers(runtime):
            while consumer.step():
                pass
            consumer.deliver_outbox()
    return planted_values, bytes_of(data_dir)


def assert_none(values: list[str], data: bytes) -> None:
    assert values
    leaked = sorted({v for v in values if v.encode() in data})
    assert not leaked, f"{len(leaked)} planted values stored in plain text: {leaked[:5]}"


def test_planted_pii_never_reaches_the_data_dir(tmp_path: Path) -> None:
    values, data = run_property(tmp_path / "data")
    assert b"Planted" in data or b"planted" in data  # the events themselves were stored
    assert_none(values, data)


@pytest.mark.services
def test_planted_pii_never_reaches_postgres_or_redis(tmp_path: Path, pg_url: str, redis_url: str) -> None:
    values, data = run_property(tmp_path / "data", log_url=pg_url, online_url=redis_url)
    import psycopg

    with psycopg.connect(pg_url) as conn:
        dump = b"".join(bytes(r[0]) for r in conn.execute("SELECT payload FROM hexlake_log_messages").fetchall())
    assert_none(values, data + dump + redis_bytes(redis_url.partition("#")[2]))


def test_planted_pii_in_a_takeout_archive_never_reaches_the_data_dir(tmp_path: Path) -> None:
    """Takeout: PII inside search titles, activity titles and mail headers, imported for a plain owner id."""
    import json

    from hexlake.importers.runner import ImportOptions
    from hexlake.importers.service import get_importer
    from hexlake.runtime import Runtime
    from tests.importers import fixtures as fx

    values = [fresh(kind) for kind in ("email", "phone", "ip", "email", "phone")]
    activity = [{"header": "Search", "title": f"Searched for call {values[0]} or {values[1]}",
                 "titleUrl": f"https://www.google.com/search?q={values[0]}", "time": "2023-05-01T10:00:00Z"},
                {"header": "Maps", "title": f"Used Maps from {values[2]}", "time": "2023-05-01T11:00:00Z"},
                {"header": "Drive", "title": f"Shared a file with {values[3]} ({values[4]})",
                 "time": "2023-05-01T12:00:00Z"}]
    files = fx.takeout_files(records=3)
    files["Takeout/My Activity/Search/MyActivity.json"] = json.dumps(activity).encode()
    owner = "plain-owner-id-77q"
    archive = fx.write_zip(tmp_path / "takeout.zip", files)
    cfg = Settings(data_dir=tmp_path / "data")
    initialise(cfg)
    runtime = Runtime(cfg)
    try:
        row = get_importer(runtime).import_path(archive, owner, ImportOptions())
        assert row.status == "done" and row.accepted > 0
        from hexlake.serve import operations as ops

        while ops.get("load_once")(runtime).get("rows", 0):
            pass
    finally:
        runtime.close()
    assert_none([*values, owner, "alice@Example.COM", "alice@example.com"], bytes_of(tmp_path / "data"))


# -- extract: PII in the columns of operational databases ------------------------------------------------

PG_TABLE = ("CREATE TABLE contacts (id INTEGER PRIMARY KEY, user_id INTEGER, email TEXT, phone TEXT, "
            "ip_address TEXT, note TEXT, profile JSONB, tags TEXT[], updated_at TIMESTAMP)")
MY_TABLE = ("CREATE TABLE tickets (id INTEGER PRIMARY KEY, user_id INTEGER, body TEXT, meta JSON, "
            "customer_email VARCHAR(200), last_ip VARCHAR(45))")


def warehouse_text(runtime: Any) -> bytes:
    """Every row of every warehouse table as text: DuckDB compresses strings on disk (FSST), so its
    file alone could hide a plain value from a byte search."""
    from hexlake.warehouse import get_warehouse

    cur = get_warehouse(runtime).cursor()
    tables = cur.execute("SELECT table_schema, table_name FROM information_schema.tables "
                         "WHERE table_type = 'BASE TABLE'").fetchall()
    return "\n".join(repr(cur.execute(f'SELECT * FROM "{s}"."{t}"').fetchall()) for s, t in tables).encode()


@pytest.mark.services
def test_planted_pii_in_extracted_columns_never_reaches_the_data_dir(tmp_path: Path, pg_url: str,
                                                                     mysql_url: str) -> None:
    """Extract: PII in identifier columns (hashed or masked by default), inside free-text columns, in
    JSON columns at random nested paths and in arrays, from a PostgreSQL and a MariaDB source; then
    the generated staging and the marts are built. Nothing plain in any file or warehouse row."""
    import json

    import psycopg
    import pymysql

    from hexlake.extract.operations import extract
    from hexlake.privacy.hashing import Hasher
    from hexlake.privacy.secret import load_secret
    from hexlake.runtime import Runtime
    from hexlake.transform import operations as transform

    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(PG_TABLE)
    my = pymysql.connect(host="127.0.0.1", port=3306, user="root", password="", autocommit=True,
                         database=mysql_url.rsplit("/", 1)[1])
    with my.cursor() as cur:
        cur.execute(MY_TABLE)
    values: list[str] = []
    row_id = itertools.count(1)

    @settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(profile=planted(), meta=planted())
    def plant(profile: tuple[dict[str, Any], list[str]], meta: tuple[dict[str, Any], list[str]]) -> None:
        i = next(row_id)
        email, phone, ip, text_email, text_phone, text_ip = (fresh(k) for k in ("email", "phone", "ip") * 2)
        values.extend([email, phone, ip, text_email, text_phone, text_ip, *profile[1], *meta[1]])
        note = f"Customer wrote from {text_ip}: call me on {text_phone} or mail {text_email}"
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute("INSERT INTO contacts VALUES (%s, %s, %s, %s, %s, %s, %s, %s, now())",
                         (i, i, email, phone, ip, note, json.dumps(profile[0]), ["vip", text_email]))
        with my.cursor() as cur:
            cur.execute("INSERT INTO tickets VALUES (%s, %s, %s, %s, %s, %s)",
                        (i, i, note, json.dumps(meta[0]), email, ip))

    plant()
    my.close()
    cfg = Settings(data_dir=tmp_path / "data")
    initialise(cfg)
    runtime = Runtime(cfg)
    try:
        extract(runtime, pg_url, ["contacts"], cursor="id", name="app")
        extract(runtime, mysql_url, ["tickets"], cursor="id", name="shop")
        assert transform.run(runtime).get("ok", True)
        rows = warehouse_text(runtime)
        hasher = Hasher(load_secret(cfg.paths.secret))
    finally:
        runtime.close()
    email = next(v for v in values if "@" in v)
    assert hasher.hash_pii(email, email=True).encode() in rows  # the rows landed (hashed)
    assert b"stg_app_contacts" in rows or b"Customer wrote from" in rows
    assert_none(values, bytes_of(tmp_path / "data") + rows)
