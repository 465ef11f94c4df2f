#!/usr/bin/env bash
# Benchmark of tally-materializer (issue #6): clean product events per second
# into PostgreSQL, against a raw COPY of the same rows into the same table, in
# the same run, on the same machine. Target: at least 0.5 of the raw COPY.
#
#   tests/bench/materializer.sh [RECORDS [ROUNDS]]   (default 300000 events, 3 rounds)
#
# Each round times both, on the same rows; the summary gives the median and
# the best of each (a shared machine is noisy: other jobs steal CPU from
# PostgreSQL, Kafka and the materializer alike).
#
# What is timed:
#   raw COPY      psql: COPY tally.product_events FROM STDIN of the rows the
#                 materializer writes for these events (made by its own
#                 decoder), into a fresh migrated database: the physical limit
#                 of getting these rows into that table.
#   materializer  from its partition assignment to the moment the offsets it
#                 stores in PostgreSQL cover every record: Kafka fetch, Avro
#                 decode, COPY into its stage, INSERT .. ON CONFLICT (event_id)
#                 DO NOTHING, product_daily and its distinct installs, the
#                 offsets, one transaction per batch.
# Last, the peak RSS (VmHWM) of the materializer over the rounds: run with
# RECORDS=1000000 for the figure at a backlog of 1M (target under 150 MiB).
# Environment: TALLY_BUILD_DIR (default build), MAT_BENCH_ARGS (extra flags for
# tally-materializer, e.g. "--batch-max-records=20000"). Uses the running local
# Kafka and PostgreSQL (deploy/local), starting them if needed; everything it
# creates (topics, databases, files) is removed at the end.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
source deploy/local/env.sh
source tests/bench/bench_lib.sh

records=${1:-300000}
rounds=${2:-3}
build=$TALLY_BUILD_DIR
tally_build tally-materializer tally-kafka-admin bench_materializer_load
loader=$build/tests/bench_materializer_load

started=()
for svc in kafka postgres; do
  if ! "deploy/local/$svc.sh" status >/dev/null 2>&1; then
    "deploy/local/$svc.sh" start; started+=("$svc")
  fi
done

id=$$_$(date +%s)
topics=(bench_mat_rollups_$id bench_mat_product_$id bench_mat_cp_$id)
db_mat=bench_mat_$id
db_copy=bench_copy_$id
group=bench_mat_$id
work=$(mktemp -d /tmp/tally-bench-mat.XXXXXX)
mat_pid=
psql_bin=$(bench_psql_bin)
psql_() { "$psql_bin" -X -q -v ON_ERROR_STOP=1 -h "$TALLY_PG_HOST" -p "$TALLY_PG_PORT" -U postgres "$@"; }
url() { echo "postgresql://postgres@$TALLY_PG_HOST:$TALLY_PG_PORT/$1"; }
now() { date +%s.%N; }

cleanup() {
  local rc=$?
  [[ -n $mat_pid ]] && kill "$mat_pid" 2>/dev/null && wait "$mat_pid" 2>/dev/null || true
  "$loader" --brokers="$TALLY_BROKERS" --delete="$(IFS=,; echo "${topics[*]}")" >/dev/null 2>&1 || true
  for db in "$db_mat" "$db_copy"; do psql_ -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" || true; done
  rm -rf "$work"
  for svc in "${started[@]}"; do "deploy/local/$svc.sh" stop || true; done
  exit "$rc"
}
trap cleanup EXIT

{
  for t in "${topics[@]}"; do echo "$t 6 3600000 delete"; done
} >"$work/topics.conf"
"$build/bin/tally-kafka-admin" --brokers="$TALLY_BROKERS" topics "$work/topics.conf" >/dev/null
for db in "$db_mat" "$db_copy"; do
  psql_ -d postgres -c "CREATE DATABASE $db"
  "$build/bin/tally-materializer" --migrate --pg-url="$(url "$db")" --migrations=deploy/postgres/migrations \
    --log-level=warn
done

echo "producing $records product events to ${topics[1]} ..." >&2
"$loader" --brokers="$TALLY_BROKERS" --topic="${topics[1]}" --records="$records" --schemas=schemas \
  --copy-out="$work/rows.copy" >&2

copy_times=()
mat_times=()
mat_hwm=()
mat_cpu=()
hz=$(getconf CLK_TCK)
# CPU seconds (user + system) the running process $1 used so far.
cpu_s() { awk -v hz="$hz" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$1/stat"; }
for round in $(seq "$rounds"); do
  # 1. Raw COPY of the same rows into the same (empty, indexed) table.
  psql_ -d "$db_copy" -c "TRUNCATE tally.product_events" -c "CHECKPOINT" >/dev/null
  t0=$(now)
  psql_ -d "$db_copy" -c "COPY tally.product_events FROM STDIN" <"$work/rows.copy"
  t1=$(now)
  copied=$(psql_ -d "$db_copy" -tAc "SELECT count(*) FROM tally.product_events")
  [[ $copied -eq $records ]] || tally_die "raw COPY wrote $copied rows, expected $records"

  # 2. The materializer, a fresh group into emptied tables, from assignment
  #    to the last offset stored.
  psql_ -d "$db_mat" -c "TRUNCATE tally.product_events, tally.product_daily, tally.product_daily_installs, \
    tally.kafka_offsets" -c "CHECKPOINT" >/dev/null
  : >"$work/mat.log"
  # shellcheck disable=SC2086
  "$build/bin/tally-materializer" --pg-url="$(url "$db_mat")" --group="${group}_$round" --brokers="$TALLY_BROKERS" \
    --rollups-topic="${topics[0]}" --product-topic="${topics[1]}" --controlpanel-topic="${topics[2]}" --alerts-topic= \
    --dlq-topic="${topics[0]}" --admin-port=0 --no-apply-migrations --log-level=info ${MAT_BENCH_ARGS:-} \
    2>"$work/mat.log" &
  mat_pid=$!
  for _ in $(seq 600); do grep -q "assigned" "$work/mat.log" && break; sleep 0.05; done
  grep -q "assigned" "$work/mat.log" || { cat "$work/mat.log" >&2; tally_die "materializer did not start"; }
  # Its PostgreSQL session (opened before it subscribes): that backend's CPU too.
  backend=$(psql_ -d "$db_mat" -tAc "SELECT pid FROM pg_stat_activity WHERE datname = '$db_mat' \
    AND application_name LIKE 'tally-materializer/%' ORDER BY backend_start LIMIT 1")
  backend_cpu0=$(cpu_s "$backend")
  t2=$(now)
  stored=0
  for _ in $(seq 6000); do
    stored=$(psql_ -d "$db_mat" -tAc "SELECT coalesce(sum(next_offset), 0) FROM tally.kafka_offsets")
    [[ $stored -ge $records ]] && break
    sleep 0.1
  done
  t3=$(now)
  [[ $stored -eq $records ]] || { tail -n 20 "$work/mat.log" >&2; tally_die "materializer stored $stored of $records"; }
  mat_hwm+=("$(bench_vmhwm_kib "$mat_pid")")
  mat_cpu+=("$(cpu_s "$mat_pid") $(echo "$(cpu_s "$backend") - $backend_cpu0" | bc)")
  kill "$mat_pid"; wait "$mat_pid" || true; mat_pid=
  rows=$(psql_ -d "$db_mat" -tAc "SELECT count(*) FROM tally.product_events")
  daily=$(psql_ -d "$db_mat" -tAc "SELECT sum(events) FROM tally.product_daily")
  [[ $rows -eq $records && $daily -eq $records ]] || tally_die "materializer wrote $rows rows, daily $daily"
  copy_times+=("$(echo "$t1 - $t0" | bc)")
  mat_times+=("$(echo "$t3 - $t2" | bc)")
  awk -v r="$round" -v n="$records" -v c="${copy_times[-1]}" -v m="${mat_times[-1]}" 'BEGIN {
    printf "round %d: raw COPY %6.2f s (%7.0f rows/s), materializer %6.2f s (%7.0f events/s), ratio %.2f\n",
           r, c, n / c, m, n / m, c / m }'
  read -r cpu_mat cpu_pg <<<"${mat_cpu[-1]}"
  printf '         CPU: tally-materializer %s s (whole process), its PostgreSQL backend %s s (timed part)\n' "$cpu_mat" "$cpu_pg"
done

printf '%s\n' "${copy_times[@]}" | sort -n >"$work/copy.t"
printf '%s\n' "${mat_times[@]}" | sort -n >"$work/mat.t"
awk -v n="$records" -v k="$rounds" '
  FNR == 1 { f++ }
  f == 1 { c[FNR] = $1 } f == 2 { m[FNR] = $1 }
  END {
    mid = int((k + 1) / 2);
    printf "raw COPY       %9d rows:   median %6.2f s = %7.0f rows/s,   best %6.2f s = %7.0f rows/s\n", n, c[mid], n / c[mid], c[1], n / c[1];
    printf "materializer   %9d events: median %6.2f s = %7.0f events/s, best %6.2f s = %7.0f events/s\n", n, m[mid], n / m[mid], m[1], n / m[1];
    printf "ratio          median %.2f, best %.2f (target >= 0.50)\n", c[mid] / m[mid], c[1] / m[1];
  }' "$work/copy.t" "$work/mat.t"
bench_print_peak tally-materializer 150 "$records" "${mat_hwm[@]}"
