#!/usr/bin/env bash
# Install the Debian packages the test suite needs (PostGIS for the local PostgreSQL; Chromium for the
# console's browser tests, driven by Playwright, which never downloads a browser of its own; nats-server
# for the NATS JetStream log and its 3-node cluster test; pgvector for vector search on a PostgreSQL
# warehouse: Debian's postgresql-N-pgvector where the release has it, else (bookworm has none)
# postgresql-server-dev-N and scripts/build-pgvector.sh builds Debian's own pgvector source package), once,
# under an exclusive lock so parallel callers (pytest-xdist workers, `make test`, bench) never run
# apt-get at the same time. Fast and silent when everything is present (dpkg-query only).
#   HEXLAKE_APT_LOCK   lock file (default /tmp/hexlake-apt.lock); waits up to 15 minutes for it
#   PG_MAJOR           PostgreSQL major version (default: newest in /etc/postgresql, else 15)
#   --check            only report what is missing (exit 1 if anything is)
set -euo pipefail

LOCK="${HEXLAKE_APT_LOCK:-/tmp/hexlake-apt.lock}"
PG_MAJOR="${PG_MAJOR:-$(ls /etc/postgresql 2>/dev/null | sort -n | tail -1)}"
PG_MAJOR="${PG_MAJOR:-15}"
PACKAGES=("postgresql-${PG_MAJOR}-postgis-3" chromium nats-server)
PGVECTOR="postgresql-${PG_MAJOR}-pgvector"  # or built from source: checked by its control file
PGVECTOR_CONTROL="/usr/share/postgresql/${PG_MAJOR}/extension/vector.control"

missing() {
    local pkg
    for pkg in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}\n' "$pkg" 2>/dev/null | grep -q "install ok installed" || echo "$pkg"
    done
    [ -f "$PGVECTOR_CONTROL" ] || echo "$PGVECTOR"
}

if [ -z "$(missing)" ]; then
    exit 0
fi
if [ "${1:-}" = "--check" ]; then
    echo "debian deps missing: $(missing | tr '\n' ' ')" >&2
    exit 1
fi

exec 9>"$LOCK"
if ! flock -w 900 9; then
    echo "debian deps: could not take $LOCK within 15 minutes" >&2
    exit 1
fi
todo="$(missing)"  # again under the lock: whoever held it may have installed them already
if [ -z "$todo" ]; then
    echo "debian deps: installed meanwhile by another process"
    exit 0
fi

SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo -n"; fi
echo "debian deps: installing $(echo $todo) (apt-get, holding $LOCK)"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
build_pgvector=""
if echo "$todo" | grep -qx "$PGVECTOR" && ! apt-cache policy "$PGVECTOR" | grep -q "Candidate: [0-9]"; then
    todo="$(echo "$todo" | grep -vx "$PGVECTOR" || true) postgresql-server-dev-${PG_MAJOR} dpkg-dev"
    build_pgvector=1
fi
# shellcheck disable=SC2086  # one word per package
$SUDO apt-get install -y -qq --no-install-recommends $todo >/dev/null
echo "debian deps: installed $(echo $todo)"
if [ -n "$build_pgvector" ]; then
    PG_MAJOR="$PG_MAJOR" bash "$(dirname "$0")/build-pgvector.sh"
fi
