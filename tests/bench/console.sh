#!/usr/bin/env bash
# Benchmark of the console's pages (issue #13): the overview and the usage
# page of a tenant with 10 environments and 13 months of daily rollups,
# among BENCH_OTHER_TENANTS other tenants (so its rows are a small part of
# every table). Target: p99 under 20 ms per page, the queries on indexes.
#
#   tests/bench/console.sh [REQUESTS [ROUNDS]]   (default 300 requests per page and round, 3 rounds)
#
# Prints, per page: each round's p50, p99 and requests/s (one request after
# another, one connection: a closed loop), the median of the rounds, and
# then the EXPLAIN (ANALYZE, BUFFERS) plan of every query each page runs
# (auto_explain, nested statements included), with a summary of the scans.
#
# What is timed (tests/bench/console_pages.c):
#   http     GET /t/{tenant}/ and /t/{tenant}/usage?period=YYYY-MM from a
#            running tally-console (Authorization: Bearer <staff token>):
#            routing, auth, the page's queries as tally_reader, the model,
#            the HTML and the answer;
#   inproc   the pages' load and render (and the API's JSON) on a libpq
#            connection as tally_reader, without HTTP: used when this tree
#            has no tally-console binary yet, or with BENCH_MODE=inproc.
# Environment: TALLY_BUILD_DIR (default build), BENCH_MODE (auto, http or
# inproc), BENCH_OTHER_TENANTS (300), BENCH_KEEP_DB=1 keeps the database.
# Uses the running local PostgreSQL (deploy/local), starting it if needed;
# the database and the console it starts are removed at the end.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
source deploy/local/env.sh

requests=${1:-300}
rounds=${2:-3}
others=${BENCH_OTHER_TENANTS:-300}
mode=${BENCH_MODE:-auto}
build=$TALLY_BUILD_DIR
targets=(tally-migrate bench_console_pages)
[[ -f consumers/console/main.c ]] && targets+=(tally-console)
tally_build "${targets[@]}"
bench=$build/tests/bench_console_pages
if [[ $mode == auto ]]; then
  [[ -x $build/bin/tally-console ]] && mode=http || mode=inproc
fi
[[ $mode == inproc ]] && echo "note: timing the pages in-process (load + render + JSON, no HTTP): BENCH_MODE=$mode" >&2

started=()
if ! deploy/local/postgres.sh status >/dev/null 2>&1; then
  deploy/local/postgres.sh start; started+=(postgres)
fi

id=$$_$(date +%s)
db=bench_console_$id
tenant=bench
work=$(mktemp -d /tmp/tally-bench-console.XXXXXX)
console_pid=
psql_() { psql -X -q -v ON_ERROR_STOP=1 -h "$TALLY_PG_HOST" -p "$TALLY_PG_PORT" -U postgres "$@"; }
url_as() { echo "postgresql://$1@$TALLY_PG_HOST:$TALLY_PG_PORT/$db"; }

cleanup() {
  local rc=$?
  if [[ -n $console_pid ]]; then
    kill -TERM "$console_pid" 2>/dev/null || true
    wait "$console_pid" 2>/dev/null || true
  fi
  [[ ${BENCH_KEEP_DB:-0} == 1 ]] || psql_ -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" || true
  rm -rf "$work"
  for svc in "${started[@]}"; do "deploy/local/$svc.sh" stop || true; done
  exit "$rc"
}
trap cleanup EXIT

psql_ -d postgres -c "CREATE DATABASE $db"
"$build/bin/tally-migrate" --pg-url="$(url_as postgres)" --migrations=deploy/postgres/migrations --log-level=warn
echo "seeding: tenant '$tenant' (10 environments, 13 months) and $others other tenants ..." >&2
psql_ -d "$db" -v tenant="$tenant" -v others="$others" -f tests/bench/console_seed.sql
period=$(date -u +%Y-%m)

args=(--tenant="$tenant" --period="$period" --requests="$requests" --rounds="$rounds")
if [[ $mode == http ]]; then
  port=18090
  while (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done
  token=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
  "$build/bin/tally-console" --bind=127.0.0.1 --port="$port" --pg-url="$(url_as tally_reader)" \
    --staff-token="$token" --insecure-cookies --log-level=warn >"$work/console.log" 2>&1 &
  console_pid=$!
  for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
    kill -0 "$console_pid" 2>/dev/null || { cat "$work/console.log" >&2; tally_die "tally-console exited"; }
    sleep 0.1
  done
  curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null || tally_die "tally-console not ready on port $port"
  args+=(--mode=http --url="http://127.0.0.1:$port" --token="$token")
else
  args+=(--mode=inproc --pg-url="$(url_as tally_reader)")
fi

echo "== $mode: $requests requests per page and round, $rounds rounds (period $period) =="
"$bench" "${args[@]}" | tee "$work/rounds.txt"
echo "== median of the rounds =="
# field NAME of page PAGE's lines, median (the middle value; rounds is odd by default)
median() { grep "^page=$1 " "$work/rounds.txt" | tr ' ' '\n' | sed -n "s/^$2=//p" | sort -g |
           awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
for page in overview usage; do
  printf "%-8s p50 %7.3f ms   p99 %7.3f ms   %8.1f requests/s   (target: p99 < 20 ms)\n" "$page" \
    "$(median "$page" p50_ms)" "$(median "$page" p99_ms)" "$(median "$page" rps)"
done

echo "== plans (EXPLAIN ANALYZE of every query of each page, as run) =="
"$bench" --mode=inproc --explain=1 --pg-url="$(url_as postgres)" --tenant="$tenant" --period="$period" \
  >"$work/plans.txt"
cat "$work/plans.txt"
echo "== scans per page (a Seq Scan on a table of more than a few hundred rows would be a missing index) =="
awk '/^==== plans of the/ { page = $5 } /Seq Scan on|Index Scan|Index Only Scan|Bitmap Index Scan/ {
       match($0, /(Seq Scan|Index Only Scan|Bitmap Index Scan|Index Scan)( using [a-z_]+)? on [a-z_]+/);
       if (RSTART) n[page ": " substr($0, RSTART, RLENGTH)]++ }
     END { for (k in n) print k " (x" n[k] ")" }' "$work/plans.txt" | sort
