#!/usr/bin/env bash
# Make PostGIS available to the local PostgreSQL: install Debian's postgresql-<ver>-postgis-3 only
# when `CREATE EXTENSION postgis` fails (through ensure-debian-deps.sh, which holds the apt lock).
# Idempotent; used by the PostGIS parity test and bench/spatial.py.
#   PG_URL   database to try the extension in (default: the local postgres database)
set -euo pipefail

PG_URL="${PG_URL:-postgresql://postgres@127.0.0.1:5432/postgres}"
PG_MAJOR="${PG_MAJOR:-$(ls /etc/postgresql 2>/dev/null | sort -n | tail -1)}"
PG_MAJOR="${PG_MAJOR:-15}"

try_extension() {  # probe inside a rolled-back transaction: leaves the database unchanged
    psql "$PG_URL" -v ON_ERROR_STOP=1 -qtA >/dev/null 2>&1 <<'SQL'
BEGIN;
CREATE EXTENSION IF NOT EXISTS postgis;
ROLLBACK;
SQL
}

if try_extension; then
    echo "postgis: available"
    exit 0
fi

# Through the one installer of Debian packages, under its lock: if another test worker is installing
# right now this waits for it (a half-unpacked package must not be taken for a broken one).
PG_MAJOR="$PG_MAJOR" bash "$(dirname "$0")/ensure-debian-deps.sh"

if try_extension; then
    echo "postgis: available"
else
    echo "postgis: postgresql-${PG_MAJOR}-postgis-3 is installed, but CREATE EXTENSION fails in ${PG_URL}:" >&2
    psql "$PG_URL" -v ON_ERROR_STOP=1 -qtAc "BEGIN; CREATE EXTENSION IF NOT EXISTS postgis; ROLLBACK;" >&2 || true
    exit 1
fi
