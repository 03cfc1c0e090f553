#!/usr/bin/env bash
# Starts (or stops) a throwaway PostgreSQL server on loopback for the database
# tests, from Debian's packages. Usage: scripts/postgres.sh start|stop|url|running
set -euo pipefail

PG_PORT="${KD_PG_PORT:-55432}"
PG_DIR="${KD_PG_DIR:-/tmp/kube-delivery-postgres}"
PG_URL="postgresql://postgres@127.0.0.1:$PG_PORT/postgres"

pg_bin() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -n "$dir" ] && echo "$dir"
}

# PostgreSQL refuses to run as root: run its commands as the postgres user.
as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "${1:-}" in
  start)
    bin=$(pg_bin) || { echo "PostgreSQL is not installed (Debian: apt-get install postgresql)" >&2; exit 1; }
    if as_pg "$bin/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT"; then echo "$PG_URL"; exit 0; fi
    if [ ! -f "$PG_DIR/PG_VERSION" ]; then
      mkdir -p "$PG_DIR"
      [ "$(id -u)" = 0 ] && chown postgres:postgres "$PG_DIR"
      as_pg "$bin/initdb" -D "$PG_DIR" -U postgres --auth=trust >/dev/null
    fi
    as_pg "$bin/pg_ctl" -D "$PG_DIR" -l "$PG_DIR/server.log" -w \
      -o "-h 127.0.0.1 -p $PG_PORT -k /tmp -c max_connections=200 -c fsync=off" start >/dev/null
    echo "$PG_URL"
    ;;
  stop)
    bin=$(pg_bin) || exit 0
    [ -f "$PG_DIR/postmaster.pid" ] && as_pg "$bin/pg_ctl" -D "$PG_DIR" -m fast -w stop >/dev/null || true
    ;;
  url)
    echo "$PG_URL"
    ;;
  running)
    bin=$(pg_bin) || exit 1
    as_pg "$bin/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT"
    ;;
  *)
    echo "usage: $0 start|stop|url|running" >&2
    exit 2
    ;;
esac
