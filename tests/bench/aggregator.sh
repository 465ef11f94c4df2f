#!/usr/bin/env bash
# Benchmark of tally-aggregator (issue #5), on the running local Kafka:
#
#   tests/bench/aggregator.sh [RECORDS] [ENTRIES]      (defaults 1000000 1000000)
#
# 1. Throughput: RECORDS clean usage records (4/5 UsageReport from 20,000
#    reporters of 200 tenants, 1/5 SeatEventClean; made with the project's
#    codec, keyed by tenant) in a 6-partition topic, read twice in the same
#    run:
#      plain consume  a read_committed librdkafka consumer polling every
#                     partition from the beginning and counting, with the
#                     aggregator's prefetch setting (queued.min.messages):
#                     the physical limit of reading this topic here;
#      consume+decode the same, each record also decoded with the codec and
#                     read with tally_usage_record_read (for reference:
#                     what any consumer of these records must spend);
#      aggregator     one tally-aggregator, timed from the end of its
#                     restore (the log line) to the moment its group has
#                     committed every record: decode, apply, the changed
#                     rollups and changelog entries produced and the
#                     offsets committed, in Kafka transactions.
#    Both are timed ROUNDS times (default 2), alternating, so that a burst of
#    other load on the machine does not favour one; the ratio is best
#    against best. Target: the aggregator at least 0.5 of the plain consume.
# 2. Restore: ENTRIES changelog entries (reporters and API rollups, made by
#    the rollup library) in a 6-partition changelog; a fresh tally-aggregator
#    is assigned the 6 partitions and restores them; the time is the one it
#    logs (waiting for stable partitions, reading, rebuilding the state).
#
# 3. The peak RSS (VmHWM) of tally-aggregator over the throughput rounds: at
#    the default RECORDS, the figure at 1M records of backlog (target < 150 MiB).
#
# Environment: TALLY_BUILD_DIR (default build), ROUNDS, AGG_BENCH_ARGS (extra
# flags for tally-aggregator, e.g. "--batch-max-records=50000"). Starts Kafka if it
# is not running; removes every topic it created.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
source deploy/local/env.sh
source tests/bench/bench_lib.sh

records=${1:-1000000}
entries=${2:-1000000}
rounds=${ROUNDS:-2}
build=$TALLY_BUILD_DIR
tally_build tally-aggregator tally-kafka-admin bench_aggregator_load
load=$build/tests/bench_aggregator_load
agg=$build/bin/tally-aggregator

started=()
if ! deploy/local/kafka.sh status >/dev/null 2>&1; then
  deploy/local/kafka.sh start
  started+=(kafka)
fi

id=$$_$(date +%s)
t_in=bench_agg_in_$id t_dlq=bench_agg_dlq_$id
r_in=bench_agg_rin_$id r_rollups=bench_agg_rrollups_$id r_changelog=bench_agg_rchangelog_$id
topics=("$t_in" "$t_dlq" "$r_in" "$r_rollups" "$r_changelog")
for r in $(seq "$rounds"); do topics+=("bench_agg_rollups${r}_$id" "bench_agg_changelog${r}_$id"); done
work=$(mktemp -d /tmp/tally-bench-agg.XXXXXX)
agg_pid=

cleanup() {
  local rc=$?
  if [[ -n $agg_pid ]]; then kill "$agg_pid" 2>/dev/null || true; wait "$agg_pid" 2>/dev/null || true; fi
  "$load" --brokers="$TALLY_BROKERS" --mode=delete --topics="$(IFS=,; echo "${topics[*]}")" >/dev/null 2>&1 || true
  rm -rf "$work"
  for svc in "${started[@]}"; do "deploy/local/$svc.sh" stop || true; done
  exit "$rc"
}
trap cleanup EXIT

for t in "${topics[@]}"; do echo "$t 6 3600000 delete"; done >"$work/topics.conf"
"$build/bin/tally-kafka-admin" --brokers="$TALLY_BROKERS" topics "$work/topics.conf" >/dev/null

# Starts tally-aggregator in the background (log in $work/$1.log) and waits
# for the end of its first restore.
start_agg() {
  local name=$1; shift
  # shellcheck disable=SC2086
  "$agg" --brokers="$TALLY_BROKERS" --group="bench_agg_${name}_$id" --instance-id="bench-$name-$id" \
    --schemas=schemas --admin-port=0 --log-level=info "$@" ${AGG_BENCH_ARGS:-} 2>"$work/$name.log" &
  agg_pid=$!
  for _ in $(seq 1200); do grep -qs "\[aggregator\] restored" "$work/$name.log" && return 0; sleep 0.05; done
  cat "$work/$name.log" >&2
  tally_die "tally-aggregator did not restore within 60 s"
}

stop_agg() {
  kill -TERM "$agg_pid"
  wait "$agg_pid" || tally_die "tally-aggregator did not exit cleanly"
  agg_pid=
}

metric() { # name{labels} from the admin port of the log $1
  local port
  port=$(sed -n 's/.*admin listening on [0-9.]*:\([0-9]*\);.*/\1/p' "$work/$1.log" | head -n1)
  curl -sf "http://127.0.0.1:$port/metrics" | awk -v s="$2" '$1 == s { print $2 }'
}

echo "producing $records usage records to $t_in ..." >&2
"$load" --brokers="$TALLY_BROKERS" --mode=produce --topic="$t_in" --records="$records" --schemas=schemas >&2

results=()
agg_hwm=()
for r in $(seq "$rounds"); do
  echo "round $r: plain consume ..." >&2
  consume_s=$("$load" --brokers="$TALLY_BROKERS" --mode=consume --topic="$t_in" --records="$records" |
    sed -n 's/.*seconds=\([0-9.]*\).*/\1/p')
  echo "round $r: consume and decode ..." >&2
  decode_s=$("$load" --brokers="$TALLY_BROKERS" --mode=consume --topic="$t_in" --records="$records" --schemas=schemas |
    sed -n 's/.*seconds=\([0-9.]*\).*/\1/p')
  echo "round $r: tally-aggregator ..." >&2
  start_agg "run$r" --usage-topic="$t_in" --rollups-topic="bench_agg_rollups${r}_$id" \
    --changelog-topic="bench_agg_changelog${r}_$id" --dlq-topic="$t_dlq"
  ready=$(grep -m1 "\[aggregator\] restored" "$work/run$r.log" | cut -d' ' -f1)
  done_line=$("$load" --brokers="$TALLY_BROKERS" --mode=wait --topic="$t_in" --group="bench_agg_run${r}_$id")
  agg_s=$(echo "${done_line#DONE epoch=} - $(date -d "$ready" +%s.%N)" | bc)
  txns=$(metric "run$r" 'tally_txn_transactions_total{result="committed"}')
  api_out=$(metric "run$r" 'tally_aggregator_rollups_out_total{kind="api"}')
  seat_out=$(metric "run$r" 'tally_aggregator_rollups_out_total{kind="seat"}')
  cl_out=$(metric "run$r" 'tally_aggregator_changelog_out_total{kind="entry"}')
  applied=$(metric "run$r" 'tally_aggregator_records_total{outcome="applied"}')
  agg_hwm+=("$(bench_vmhwm_kib "$agg_pid")")
  stop_agg
  [[ ${applied:-0} -ge $((records * 9 / 10)) ]] || tally_die "only ${applied:-0} records applied"
  results+=("$r $consume_s $agg_s $txns $api_out $seat_out $cl_out $decode_s")
done

echo "writing $entries changelog entries to $r_changelog ..." >&2
written=$("$load" --brokers="$TALLY_BROKERS" --mode=changelog --topic="$r_changelog" --entries="$entries" \
  --schemas=schemas | sed -n 's/CHANGELOG entries=//p')
echo "restore ..." >&2
start_agg restore --usage-topic="$r_in" --rollups-topic="$r_rollups" --changelog-topic="$r_changelog" \
  --dlq-topic="$t_dlq"
line=$(grep -m1 "\[aggregator\] restored" "$work/restore.log")
restored=$(sed -n 's/.* from \([0-9]*\) changelog record.*/\1/p' <<<"$line")
restore_ms=$(sed -n 's/.* in \([0-9]*\) ms.*/\1/p' <<<"$line")
rss_kib=$(awk '/VmRSS/ { print $2 }' "/proc/$agg_pid/status")
reporters=$(metric restore 'tally_aggregator_state_entries{kind="reporters"}')
stop_agg
[[ $restored -eq $written ]] || tally_die "restored $restored of $written changelog entries"

printf '%s\n' "${results[@]}" | awk -v n="$records" '{
  printf "round %d: plain consume %6.2f s = %7.0f/s; consume+decode %6.2f s = %7.0f/s; aggregator %6.2f s = %7.0f/s (%d transactions; out: %d API + %d seat rollups, %d changelog entries)\n", $1, $2, n / $2, $8, n / $8, $3, n / $3, $4, $5, $6, $7;
  if (!bc || $2 < bc) bc = $2; if (!ba || $3 < ba) ba = $3; if (!bd || $8 < bd) bd = $8;
} END {
  printf "plain consume  %9d records in %6.2f s = %9.0f records/s (best)\n", n, bc, n / bc;
  printf "consume+decode %9d records in %6.2f s = %9.0f records/s (best)\n", n, bd, n / bd;
  printf "aggregator     %9d records in %6.2f s = %9.0f records/s (best)\n", n, ba, n / ba;
  printf "ratio          %.2f of the plain consume (target >= 0.50); %.2f of consume+decode\n", bc / ba, bd / ba;
}'
awk -v e="$restored" -v ms="$restore_ms" -v rss="$rss_kib" -v rep="$reporters" 'BEGIN {
  printf "restore        %9d changelog entries (6 partitions, %d reporters) in %.2f s = %.0f entries/s; RSS after: %.0f MiB\n", e, rep, ms / 1000, e / (ms / 1000), rss / 1024;
}'
bench_print_peak tally-aggregator 150 "$records" "${agg_hwm[@]}"
