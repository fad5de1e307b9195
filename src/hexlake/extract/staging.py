"""Staging models generated from what was extracted: ``staging.stg_<source>_<table>`` (SQLMesh).

Each extraction writes, into the data dir's own SQLMesh project (``<data_dir>/transform``, loaded by
the transform engine beside hexlake's project), one model per raw table and an
``external_models.yaml`` that declares the raw tables' columns. A generated model is:

* **current state only (SCD1)**: the latest row per primary key, by the cursor column (then the
  extraction time); snapshot extractions (no cursor) take the latest snapshot;
* **typed**: every column cast to its canonical type; hashed identifiers renamed ``<column>_hash``
  (seed 004: ``email`` → ``email_hash``, ``last_login_ip`` → ``ip_hash``), ``id`` of a users table →
  ``user_id``; ``is_account_locked`` from ``account_locked_until`` at the run's execution time;
* **deleted rows flagged** (``_is_deleted``): ``deleted_at`` set (soft delete), a row missing from the
  latest snapshot (hard delete, snapshot mode) or a delete captured by CDC (``_cdc_op = 'd'``);
* **audited**: not-null and unique key, plus ``accepted_values`` for configured columns.

Models read the raw table in the schema it was landed in (``main`` on DuckDB, ``public`` on a
PostgreSQL warehouse: the warehouse's current schema, recorded per table in the manifest), so
nothing has to be created by hand on either warehouse.

Generated files live in ``models/generated/`` and are rewritten on every extraction; models you
write anywhere else under ``<data_dir>/transform/models`` are yours and may select from them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from hexlake.config import DataPaths

#: Seed 004's staging names for hashed identifiers.
HASH_NAMES = {"email": "email_hash", "last_login_ip": "ip_hash", "ip": "ip_hash", "ip_address": "ip_hash"}
GENERATED = Path("models") / "generated"
MANIFEST = "extracted.json"


def project_dir(data_dir: Path) -> Path:
    """The data dir's SQLMesh project (the transform engine loads it beside hexlake's)."""
    return DataPaths(data_dir).transform_project


def staging_name(source: str, table: str) -> str:
    return f"stg_{source}_{table}".lower()


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _ident(name: str) -> str:
    # plain names stay unquoted: a DuckDB model's text (and so its SQLMesh fingerprint) is unchanged
    return name if re.fullmatch(r"[a-z_][a-z0-9_]*", name) else _q(name)


def _is_users(table: str) -> bool:
    return table.lower().endswith("users")


def output_name(column: str, action: str | None, table: str, key: Sequence[str]) -> str:
    """The staging name of a raw column."""
    if action == "hash":
        return HASH_NAMES.get(column.lower(), f"{column.lower()}_hash")
    if _is_users(table) and list(key) == ["id"] and column == "id":
        return "user_id"
    return column


def _select_list(entry: Mapping[str, Any]) -> list[str]:
    names = {n for n, _ in entry["columns"]}
    out = []
    for name, typ in entry["columns"]:
        alias = output_name(name, entry["pii"].get(name), entry["table"], entry["primary_key"])
        out.append(f"CAST({_q(name)} AS {typ}) AS {_q(alias)}")
    if "account_locked_until" in names:
        out.append("COALESCE(account_locked_until > CAST(@execution_ts AS TIMESTAMP), FALSE) AS is_account_locked")
    deleted = ["hard_deleted"]
    if "deleted_at" in names:
        deleted.append("deleted_at IS NOT NULL")
    if "_cdc_op" in names:
        deleted.append("COALESCE(_cdc_op = 'd', FALSE)")
    out.append(f"({' OR '.join(deleted)}) AS _is_deleted")
    out.append("extracted_at AS _extracted_at")
    return out


def _audits(entry: Mapping[str, Any], accepted: Mapping[str, Sequence[Any]]) -> list[str]:
    key = [output_name(k, entry["pii"].get(k), entry["table"], entry["primary_key"]) for k in entry["primary_key"]]
    if not key:
        return []
    cols = ", ".join(_q(k) for k in key)
    audits = [f"not_null(columns := ({cols}))",
              f"unique_values(columns := ({cols}))" if len(key) == 1
              else f"unique_combination_of_columns(columns := ({cols}))"]
    for column, values in accepted.items():
        listed = ", ".join(json.dumps(v).replace('"', "'") if isinstance(v, str) else str(v) for v in values)
        audits.append(f"accepted_values(column := {_q(column)}, is_in := ({listed}))")
    return audits


def raw_ref(entry: Mapping[str, Any]) -> str:
    """``<schema>.<raw table>``: where the warehouse landed it (manifests before the schema was
    recorded are DuckDB's ``main``)."""
    return f"{_ident(entry.get('raw_schema') or 'main')}.{entry['raw_table']}"


def model_sql(entry: Mapping[str, Any], accepted: Mapping[str, Sequence[Any]] | None = None) -> str:
    """The SQLMesh model for one extracted table (``entry``: a manifest entry)."""
    raw, key, cursor = entry["raw_table"], entry["primary_key"], entry.get("cursor")
    schema = entry.get("raw_schema") or "main"
    order = f"{_q(cursor)} DESC NULLS LAST, extracted_at DESC" if cursor else "extracted_at DESC"
    partition = f"PARTITION BY {', '.join(_q(k) for k in key)} " if key else ""
    # Snapshot mode: a key missing from the latest snapshot was deleted at the source.
    hard = "extracted_at < MAX(extracted_at) OVER ()" if not cursor else "FALSE"
    audits = _audits(entry, accepted or {})
    audit_block = ",\n  audits (\n    " + ",\n    ".join(audits) + "\n  )" if audits else ""
    grain = f",\n  grain ({', '.join(_q(output_name(k, None, entry['table'], key)) for k in key)})" if key else ""
    cols = ",\n  ".join(_select_list(entry))
    return (
        f"/* Generated by hexlake extract from {raw}: do not edit (rewritten on every extraction). */\n"
        f"MODEL (\n  name staging.{staging_name(entry['source'], entry['table'])},\n  kind FULL,\n"
        f"  cron '@daily',\n  allow_partials TRUE{grain}{audit_block}\n);\n\n"
        f"WITH ranked AS (\n  SELECT *, ROW_NUMBER() OVER ({partition}ORDER BY {order}) AS _recency,\n"
        f"    {hard} AS hard_deleted\n  FROM {_ident(schema)}.{_q(raw)}\n)\n"
        f"SELECT\n  {cols}\nFROM ranked\nWHERE _recency = 1\n"
    )


def external_models_yaml(entries: Iterable[Mapping[str, Any]]) -> str:
    """SQLMesh's declaration of the raw tables (so ``SELECT *`` expands and columns are typed)."""
    lines = ["# Generated by hexlake extract: the raw tables the generated staging models read."]
    for e in entries:
        lines.append(f"- name: {raw_ref(e)}")
        lines.append("  columns:")
        for name, typ in [["extracted_at", "TIMESTAMP"], ["extracted_date", "DATE"],
                          ["source_system", "VARCHAR"], *e["columns"]]:
            lines.append(f"    {json.dumps(name)}: {typ}")
    return "\n".join(lines) + "\n"


def load_manifest(project: Path) -> dict[str, dict[str, Any]]:
    path = project / MANIFEST
    return json.loads(path.read_text()) if path.exists() else {}


def write_project(project: Path, results: Iterable[Mapping[str, Any]], source: str,
                  accepted: Mapping[str, Mapping[str, Sequence[Any]]] | None = None) -> bool:
    """Record ``results`` (``TableResult`` dicts of one source) and regenerate every staging model.

    Returns whether a file changed. Files are only rewritten when their text changes, so SQLMesh
    sees no change (and replans nothing) when the schema did not move.
    """
    manifest = load_manifest(project)
    results = list(results)
    for entry in manifest.values():  # recorded before the schema was: same data dir, same warehouse
        if results and "raw_schema" not in entry:
            entry["raw_schema"] = results[0].get("raw_schema") or "main"
    for r in results:
        manifest[r["raw_table"]] = {"source": source, "table": r["table"], "raw_table": r["raw_table"],
                                    "primary_key": r["primary_key"], "cursor": r["cursor"],
                                    "raw_schema": r.get("raw_schema") or "main", "columns": r["columns"],
                                    "pii": r["pii"],
                                    "accepted": dict((accepted or {}).get(r["table"], {}))}
    models = project / GENERATED
    models.mkdir(parents=True, exist_ok=True)
    changed = _write(project / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True))
    changed |= _write(project / "external_models.yaml", external_models_yaml(manifest.values()))
    for entry in manifest.values():
        name = staging_name(entry["source"], entry["table"])
        changed |= _write(models / f"{name}.sql", model_sql(entry, entry.get("accepted")))
    return changed


def users_binding(data_dir: Path) -> str:
    """The transform variable ``extracted_users``: which extracted users table the core marts use.

    JSON ``{"model", "raw", "columns"}`` of the first extracted ``*users`` table with a ``user_key``
    (its id hashed like the gate's user ids), or ``""`` when none: the marts then use events only.
    """
    for entry in sorted(load_manifest(project_dir(data_dir)).values(), key=lambda e: e["raw_table"]):
        landed = [n for n, _ in entry["columns"]]
        if _is_users(entry["table"]) and "user_key" in landed:
            columns = [output_name(n, entry["pii"].get(n), entry["table"], entry["primary_key"]) for n in landed]
            columns.append("_is_deleted")
            if "account_locked_until" in landed:
                columns.append("is_account_locked")
            return json.dumps({"model": f"staging.{staging_name(entry['source'], entry['table'])}",
                               "raw": raw_ref(entry), "columns": columns})
    return ""


def _write(path: Path, text: str) -> bool:
    if path.exists() and path.read_text() == text:
        return False
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)
    return True


__all__ = ["HASH_NAMES", "external_models_yaml", "load_manifest", "model_sql", "output_name", "project_dir",
           "raw_ref", "staging_name", "users_binding", "write_project"]
