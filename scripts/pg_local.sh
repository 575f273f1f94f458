#!/usr/bin/env bash
# A PostgreSQL cluster kept in a folder of the project (or a throwaway one for tests).
#   pg_local.sh start DIR PORT DBNAME   initdb if needed, start, create DBNAME if missing
#   pg_local.sh stop DIR
# The server refuses to run as root: as root, the cluster belongs to the `postgres` user.
set -euo pipefail
PG_MAJOR="${PG_MAJOR:-15}"
BIN="/usr/lib/postgresql/${PG_MAJOR}/bin"
[ -x "$BIN/initdb" ] || BIN="$(dirname "$(command -v initdb)")"
cmd="$1"; dir="$(realpath -m "$2")"
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
case "$cmd" in
  start)
    port="$3"; db="${4:-stapi}"
    mkdir -p "$dir"
    [ "$(id -u)" -eq 0 ] && chown postgres: "$dir"
    if [ ! -f "$dir/PG_VERSION" ]; then
      as_owner "$BIN/initdb" -D "$dir" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir.initdb.log" 2>&1 \
        || { cat "$dir.initdb.log" >&2; exit 1; }
      cat >>"$dir/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
fsync = off
synchronous_commit = off
full_page_writes = off
shared_buffers = 512MB
work_mem = 32MB
maintenance_work_mem = 256MB
max_connections = 200
jit = off
log_min_messages = warning
CONF
    fi
    if ! as_owner "$BIN/pg_ctl" -D "$dir" status >/dev/null 2>&1; then
      as_owner "$BIN/pg_ctl" -D "$dir" -o "-p $port" -l "$dir/server.log" -w -t 60 start >/dev/null \
        || { tail -20 "$dir/server.log" >&2; exit 1; }
    fi
    if ! psql -h 127.0.0.1 -p "$port" -U postgres -tAc "select 1 from pg_database where datname='$db'" postgres | grep -q 1; then
      psql -h 127.0.0.1 -p "$port" -U postgres -qc "create database \"$db\"" postgres
    fi
    echo "postgresql://postgres@127.0.0.1:$port/$db"
    ;;
  stop)
    if [ -f "$dir/PG_VERSION" ]; then
      as_owner "$BIN/pg_ctl" -D "$dir" -m fast -w stop >/dev/null 2>&1 || true
    fi
    ;;
  *) echo "usage: $0 start DIR PORT [DBNAME] | stop DIR" >&2; exit 2 ;;
esac
