#!/bin/sh
# Installs the PostgreSQL server binaries the tests of plugins/postgres need
# (initdb and postgres; the tests start their own throwaway cluster on a
# loopback port, see internal/testenv/postgres.go). Idempotent: does nothing
# when they are already there. Debian/Ubuntu only (apt-get); elsewhere install
# PostgreSQL and set AILERON_PG_BINDIR to the directory of initdb.
set -eu

have_pg() {
	if [ -n "${AILERON_PG_BINDIR:-}" ] && [ -x "$AILERON_PG_BINDIR/initdb" ] && [ -x "$AILERON_PG_BINDIR/postgres" ]; then
		return 0
	fi
	if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
		return 0
	fi
	for d in /usr/lib/postgresql/*/bin; do
		if [ -x "$d/initdb" ] && [ -x "$d/postgres" ]; then
			return 0
		fi
	done
	return 1
}

if have_pg; then
	echo "test-deps-postgres: PostgreSQL server binaries present"
	exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
	echo "test-deps-postgres: initdb/postgres not found and no apt-get: install PostgreSQL and set AILERON_PG_BINDIR" >&2
	exit 1
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then
	SUDO="sudo"
fi
echo "test-deps-postgres: installing postgresql with apt-get"
$SUDO apt-get update
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends postgresql
# The Debian package starts a system cluster on port 5432; the tests do not
# use it (they start their own), so it may keep running or be stopped.
have_pg || { echo "test-deps-postgres: postgresql installed but initdb/postgres still not found" >&2; exit 1; }
echo "test-deps-postgres: done"
