#!/usr/bin/env bash
# A throwaway PostgreSQL 15 cluster for local runs and tests, on
# 127.0.0.1:55432, database `tally`, run as the postgres user when root.
#   postgres.sh start     initdb once, start, create the database, migrate
#   postgres.sh stop      fast shutdown
#   postgres.sh status    exit 0 when it accepts connections
#   postgres.sh migrate   apply deploy/postgres/migrations (tally-migrate)
#   postgres.sh psql ...  psql on the tally database, as the superuser
#   postgres.sh psql-as ROLE ...  psql on the tally database as ROLE (e.g.
#                         tally_reader, what the Control Panel may see)
#   postgres.sh kill      SIGKILL the postmaster and all its processes at once, as a
#                         crash of the machine would, and wait until they are gone
#                         (orphaned backends would keep the shared memory and
#                         refuse the next start)
#   postgres.sh pid       print the postmaster's pid (exit 1 when not running)
#   postgres.sh wipe      stop and delete the cluster
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

pgbin=/usr/lib/postgresql/15/bin
[[ -x $pgbin/pg_ctl ]] || tally_die "PostgreSQL 15 not installed: run deploy/setup.sh"

# PostgreSQL refuses to run as root: as root, run it as `postgres`.
if [[ $(id -u) -eq 0 ]]; then as_pg=(runuser -u postgres --); else as_pg=(); fi

pg_dir() {
  local dir=$TALLY_STATE/postgres
  mkdir -p "$dir"
  if [[ $(id -u) -eq 0 ]]; then
    chown postgres: "$dir"
    # The state folder may sit below a folder postgres cannot enter (/root):
    # then use a folder of its own under /tmp, named after the state folder.
    if ! "${as_pg[@]}" test -w "$dir" 2>/dev/null; then
      dir=/tmp/tally-postgres-$(printf '%s' "$TALLY_STATE" | cksum | cut -d' ' -f1)
      mkdir -p "$dir"; chown postgres: "$dir"; chmod 700 "$dir"
    fi
  fi
  echo "$dir"
}

dir=$(pg_dir)
data=$dir/data
pgctl() { "${as_pg[@]}" "$pgbin/pg_ctl" -D "$data" "$@"; }
psql_admin() { psql -X -q -v ON_ERROR_STOP=1 -h "$TALLY_PG_HOST" -p "$TALLY_PG_PORT" -U postgres "$@"; }

postmaster_pid() { [[ -f $data/postmaster.pid ]] && head -n1 "$data/postmaster.pid"; }
# pg_ctl (and the postmaster's own lock check) take a zombie for a live
# process: a killed postmaster whose parent was init stays one when pid 1
# does not reap. A postmaster that is gone or a zombie holds nothing.
running() { local pid; pid=$(postmaster_pid) && [[ -n $pid ]] && tally_alive "$pid" && pgctl status >/dev/null 2>&1; }
clear_stale_lock() {
  local f pid
  for f in "$data/postmaster.pid" "$dir/.s.PGSQL.$TALLY_PG_PORT.lock"; do
    [[ -f $f ]] || continue
    pid=$(head -n1 "$f")
    if [[ -n $pid ]] && ! tally_alive "$pid"; then rm -f "$f" "${f%.lock}"; fi
  done
}

migrate() {
  local bin=$TALLY_BUILD_DIR/bin/tally-migrate
  [[ -x $bin ]] || tally_build tally-migrate
  "$bin" --pg-url="$TALLY_PG_URL" --migrations="$TALLY_ROOT/deploy/postgres/migrations"
}

start() {
  if ! running; then
    clear_stale_lock
    if [[ ! -f $data/PG_VERSION ]]; then
      "${as_pg[@]}" "$pgbin/initdb" -D "$data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 \
        >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; tally_die "postgres: initdb failed"; }
    fi
    if ss -ltn "sport = :$TALLY_PG_PORT" 2>/dev/null | grep -q LISTEN; then
      tally_die "postgres: port $TALLY_PG_PORT is taken by another process"
    fi
    # An outgoing connection may hold the port for a moment when it lies in
    # the ephemeral range (55432 does): retry a bind failure a few times.
    local attempt seen
    for attempt in 1 2 3 4 5; do
      seen=0
      [[ -f $dir/postgres.log ]] && seen=$(wc -l <"$dir/postgres.log")
      pgctl start -w -t 60 -l "$dir/postgres.log" \
        -o "-p $TALLY_PG_PORT -k $dir -c listen_addresses=$TALLY_PG_HOST -c max_connections=200" \
        >/dev/null && break
      if [[ $attempt -lt 5 ]] && tail -n +"$((seen + 1))" "$dir/postgres.log" | grep -q "Address already in use"; then
        tally_log "postgres: port $TALLY_PG_PORT briefly in use; retrying"
        sleep 1
        continue
      fi
      tail -n 30 "$dir/postgres.log" >&2
      tally_die "postgres: did not start"
    done
  fi
  if [[ -z $(psql_admin -d postgres -tAc "select 1 from pg_database where datname = '$TALLY_PG_DB'") ]]; then
    psql_admin -d postgres -c "create database $TALLY_PG_DB"
  fi
  migrate
  tally_log "postgres: up on $TALLY_PG_HOST:$TALLY_PG_PORT, database $TALLY_PG_DB (log: $dir/postgres.log)"
}

case "${1:-}" in
  start) start ;;
  stop) if running; then pgctl stop -m fast -w >/dev/null; tally_log "postgres: stopped"; fi ;;
  status) running && psql_admin -d "$TALLY_PG_DB" -tAc 'select 1' >/dev/null &&
            echo "postgres: running on $TALLY_PG_HOST:$TALLY_PG_PORT" || { echo "postgres: not running"; exit 1; } ;;
  migrate) migrate ;;
  psql) shift; psql_admin -d "$TALLY_PG_DB" "$@" ;;
  psql-as) role=${2:?usage: $0 psql-as ROLE [psql arguments]}; shift 2
           psql -X -q -v ON_ERROR_STOP=1 -h "$TALLY_PG_HOST" -p "$TALLY_PG_PORT" -U "$role" -d "$TALLY_PG_DB" "$@" ;;
  kill)
    if [[ -f $data/postmaster.pid ]]; then
      pids=("$(head -n1 "$data/postmaster.pid")")
      # shellcheck disable=SC2207
      pids+=($(ps -o pid= --ppid "${pids[0]}" 2>/dev/null || true))
      kill -KILL "${pids[@]}" 2>/dev/null || true
      for pid in "${pids[@]}"; do
        for _ in $(seq 1 300); do tally_alive "$pid" || break; sleep 0.1; done
        ! tally_alive "$pid" || tally_die "postgres: pid $pid still alive after SIGKILL"
      done
      tally_port_released "$TALLY_PG_PORT" || tally_die "postgres: port $TALLY_PG_PORT still taken after the kill"
      clear_stale_lock
    fi ;;
  pid) if running; then postmaster_pid; else echo "postgres: not running" >&2; exit 1; fi ;;
  wipe) if running; then pgctl stop -m immediate -w >/dev/null || true; fi; rm -rf "$dir" ;;
  *) echo "usage: $0 start|stop|status|migrate|psql|psql-as ROLE|kill|pid|wipe" >&2; exit 2 ;;
esac
