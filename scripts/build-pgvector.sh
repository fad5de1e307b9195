#!/usr/bin/env bash
# Build and install pgvector into the local PostgreSQL from *Debian's* source package, for Debian
# releases with no postgresql-N-pgvector binary for the installed server (bookworm has none; newer
# releases ship it only for their own PostgreSQL major). apt fetches the source package (signed
# .dsc, checksummed tarballs) from the mirror this machine's apt already uses, through a private
# source list, so the system's apt configuration is left untouched and no code is kept in the repo.
# Needs postgresql-server-dev-N, dpkg-dev, gcc and make (ensure-debian-deps.sh installs the first
# two and calls this under its apt lock).
#   PG_MAJOR          PostgreSQL major version (default: newest in /etc/postgresql, else 15)
#   PGVECTOR_SUITE    Debian suite whose source package is built (default: trixie)
set -euo pipefail

PG_MAJOR="${PG_MAJOR:-$(ls /etc/postgresql 2>/dev/null | sort -n | tail -1)}"
PG_MAJOR="${PG_MAJOR:-15}"
SUITE="${PGVECTOR_SUITE:-trixie}"
PG_CONFIG="/usr/lib/postgresql/${PG_MAJOR}/bin/pg_config"
if [ ! -x "$PG_CONFIG" ]; then
    echo "build-pgvector: $PG_CONFIG not found (apt-get install postgresql-server-dev-${PG_MAJOR})" >&2
    exit 1
fi

# The Debian mirror the machine is configured with (deb822 .sources or one-line sources.list).
mirror="$(sed -n 's/^URIs:[[:space:]]*//p' /etc/apt/sources.list.d/*.sources 2>/dev/null | grep -v security | head -1)"
if [ -z "$mirror" ]; then
    mirror="$(awk '$1 == "deb" && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)"
fi
if [ -z "$mirror" ]; then
    echo "build-pgvector: no Debian mirror found in /etc/apt/sources.list{,.d}" >&2
    exit 1
fi

SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo -n"; fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial"
echo "deb-src $mirror $SUITE main" > "$work/sources.list"
apt_opts=(-o "Dir::Etc::sourcelist=$work/sources.list" -o "Dir::Etc::sourceparts=-"
          -o "Dir::State::Lists=$work/lists" -o "APT::Sandbox::User=root")
apt-get "${apt_opts[@]}" update -qq
(cd "$work" && apt-get "${apt_opts[@]}" source -qq pgvector >/dev/null)
src="$(find "$work" -maxdepth 1 -type d -name 'pgvector-*' | head -1)"
flags=(PG_CONFIG="$PG_CONFIG" OPTFLAGS="" with_llvm=no)  # portable flags, as Debian builds it
make -C "$src" -s -j"$(nproc)" "${flags[@]}" >/dev/null
$SUDO make -C "$src" -s install "${flags[@]}" >/dev/null
echo "build-pgvector: installed Debian's pgvector $(basename "$src" | sed 's/^pgvector-//') for PostgreSQL ${PG_MAJOR}"
