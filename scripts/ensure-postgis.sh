#!/usr/bin/env bash
# Make PostGIS available to the local PostgreSQL: install Debian's postgresql-<ver>-postgis-3 only
# when `CREATE EXTENSION postgis` fails. Idempotent; used by the PostGIS parity test and bench/spatial.py.
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

if [ -e "/usr/share/postgresql/${PG_MAJOR}/extension/postgis.control" ]; then
    echo "postgis: installed but CREATE EXTENSION failed in ${PG_URL}" >&2
    psql "$PG_URL" -v ON_ERROR_STOP=1 -qtAc "BEGIN; CREATE EXTENSION IF NOT EXISTS postgis; ROLLBACK;" >&2 || true
    exit 1
fi

SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
echo "postgis: installing postgresql-${PG_MAJOR}-postgis-3 (apt-get)"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq "postgresql-${PG_MAJOR}-postgis-3" >/dev/null

if try_extension; then
    echo "postgis: available"
else
    echo "postgis: installed, but CREATE EXTENSION still fails in ${PG_URL}" >&2
    exit 1
fi
