#!/usr/bin/env bash
# Build and install pgvector from its vendored source (third_party/pgvector, v0.8.6, PostgreSQL
# licence) into the local PostgreSQL, for Debian releases with no postgresql-N-pgvector package
# (bookworm has none; trixie has one, and ensure-debian-deps.sh then installs that instead).
# Needs postgresql-server-dev-N, gcc and make (ensure-debian-deps.sh installs the first and calls
# this under its apt lock). Built in a temporary copy, so the checkout stays clean; portable flags
# (OPTFLAGS=""), as Debian builds it; no LLVM bitcode (with_llvm=no), the server JITs without it.
#   PG_MAJOR   PostgreSQL major version (default: newest in /etc/postgresql, else 15)
set -euo pipefail

PG_MAJOR="${PG_MAJOR:-$(ls /etc/postgresql 2>/dev/null | sort -n | tail -1)}"
PG_MAJOR="${PG_MAJOR:-15}"
PG_CONFIG="/usr/lib/postgresql/${PG_MAJOR}/bin/pg_config"
SRC="$(cd "$(dirname "$0")/../third_party/pgvector" && pwd)"
if [ ! -x "$PG_CONFIG" ]; then
    echo "build-pgvector: $PG_CONFIG not found (apt-get install postgresql-server-dev-${PG_MAJOR})" >&2
    exit 1
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo -n"; fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp -r "$SRC/." "$work/"
flags=(PG_CONFIG="$PG_CONFIG" OPTFLAGS="" with_llvm=no)
make -C "$work" -s -j"$(nproc)" "${flags[@]}" >/dev/null
$SUDO make -C "$work" -s install "${flags[@]}" >/dev/null
echo "build-pgvector: installed pgvector $(sed -n "s/^default_version = '\(.*\)'/\1/p" "$SRC/vector.control") for PostgreSQL ${PG_MAJOR}"
