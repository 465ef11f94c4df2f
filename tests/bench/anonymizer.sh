#!/usr/bin/env bash
# Benchmark of tally-anonymizer (issue #4): prints figures, asserts nothing.
#
# Starts (or reuses) the local Kafka broker, builds what it needs, creates
# fresh topics of its own and fills two raw topics with BENCH_RECORDS raw
# records (bench_anonymizer produce: 70% product events, a fifth of them
# with an error full of things to scrub, 15% usage reports, 15% seat
# events), then, in the same run and on the same raw records:
#   copy        bench_anonymizer copy: the plain consume-and-produce copy,
#               same consumer settings, idempotent producer, no transaction,
#               no decoding (the physical limit on this broker)
#   anonymizer  tally-anonymizer with its defaults (transactions end when the
#               input is drained, else at 10,000 records or 200 ms),
#               decoding, pseudonymizing, scrubbing, filtering and
#               encoding every record
# Each reads the raw topics from the start in a fresh consumer group;
# bench_anonymizer wait times the group's committed offsets from the first
# commit to the end offsets, so process start and group join are left out
# the same way for both. The two alternate for BENCH_ROUNDS rounds (this
# machine is shared: one round alone is noisy); prints records/s and CPU
# seconds of each run, and the ratio anonymizer / copy of the medians
# (target >= 0.5). Last, the scrubber alone on hostile text (bench_scrub_worst:
# every 64 KiB near miss of every rule, best of 10 scrubs each; the slowest
# text's figure, target far under 5 ms per 64 KiB).
#
# Usage: tests/bench/anonymizer.sh        (environment, with defaults:)
#   BENCH_RECORDS=1000000   raw records
#     (the peak RSS, VmHWM, of tally-anonymizer over the rounds is printed:
#     at the default, the figure at 1M records of backlog; target < 150 MiB)
#   BENCH_ROUNDS=3          copy + anonymizer rounds
#   BENCH_PARTITIONS=6      partitions of each bench topic (as tally.*.raw)
#   BENCH_ANON_ARGS=        extra tally-anonymizer arguments
#   BENCH_KEEP_TOPICS=0     1: leave the bench topics on the broker
# and deploy/local/env.sh's TALLY_BROKERS, TALLY_BUILD_DIR, ...
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/../../deploy/local/env.sh"
source "$here/bench_lib.sh"

records=${BENCH_RECORDS:-1000000}
rounds=${BENCH_ROUNDS:-3}
partitions=${BENCH_PARTITIONS:-6}
anon_bin=$TALLY_BUILD_DIR/bin/tally-anonymizer
bench_bin=$TALLY_BUILD_DIR/tests/bench_anonymizer
hz=$(getconf CLK_TCK)

work=$(mktemp -d /tmp/tally-bench-anon.XXXXXX)
kafka_started=0 pids=() topics=()

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
  done
  if ((${#topics[@]} > 0)) && [[ ${BENCH_KEEP_TOPICS:-0} != 1 ]]; then
    "$bench_bin" --brokers="$TALLY_BROKERS" delete "${topics[@]}" ||
      tally_log "bench: could not delete the topics ${topics[*]}"
  fi
  ((kafka_started)) && { "$TALLY_ROOT/deploy/local/kafka.sh" stop || true; }
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# CPU seconds (user + system) a running process used so far.
cpu_s() { awk -v hz="$hz" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$1/stat"; }

# Stops a process started in the background: SIGTERM, wait.
stop() {
  kill -TERM "$1"
  wait "$1" || tally_log "bench: process $1 exited with status $?"
}

tally_build tally-anonymizer bench_anonymizer bench_scrub_worst tally-kafka-admin
if ! "$TALLY_ROOT/deploy/local/kafka.sh" status >/dev/null 2>&1; then
  "$TALLY_ROOT/deploy/local/kafka.sh" start
  kafka_started=1
fi

run=bench-anon-$$-$(date +%s)
raw_product=$run.product.raw raw_usage=$run.usage.raw
copy_out=$run.copy anon_product=$run.product anon_usage=$run.usage anon_dlq=$run.dlq
topics=("$raw_product" "$raw_usage" "$copy_out" "$anon_product" "$anon_usage" "$anon_dlq")
"$bench_bin" --brokers="$TALLY_BROKERS" --partitions="$partitions" create "${topics[@]}"
# Mode 600 from the start (tally-anonymizer refuses a key file open to others).
(umask 077 && printf '1 %s\n' "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$work/keys")

tally_log "bench: producing $records raw records"
"$bench_bin" --brokers="$TALLY_BROKERS" --schemas="$TALLY_ROOT/schemas" --product-topic="$raw_product" \
  --usage-topic="$raw_usage" --records="$records" produce

# One run of the copy (round $1); sets res_rate res_cpu res_n res_secs.
run_copy() {
  local group=$run-copy-$1 pid out
  "$bench_bin" --brokers="$TALLY_BROKERS" --from="$raw_product,$raw_usage" --to="$copy_out" \
    --group="$group" copy 2>>"$work/copy.log" &
  pid=$!
  pids+=("$pid")
  measure "$group" "$pid"
}

# One run of tally-anonymizer (round $1); sets the same.
run_anon() {
  local group=$run-anon-$1 pid out
  # shellcheck disable=SC2086
  "$anon_bin" --brokers="$TALLY_BROKERS" --group="$group" --instance-id="$run-$1" --key-file="$work/keys" \
    --schemas="$TALLY_ROOT/schemas" --catalog="$TALLY_ROOT/schemas/product-events.json" \
    --product-raw-topic="$raw_product" --usage-raw-topic="$raw_usage" --product-topic="$anon_product" \
    --usage-topic="$anon_usage" --dlq-topic="$anon_dlq" --admin-port=0 --log-level=warn \
    ${BENCH_ANON_ARGS:-} 2>>"$work/anon.log" &
  pid=$!
  pids+=("$pid")
  measure "$group" "$pid"
}

# Waits until group $1 consumed the raw topics, reads the figures, stops $2.
measure() {
  local out
  out=$("$bench_bin" --brokers="$TALLY_BROKERS" --group="$1" --topics="$raw_product,$raw_usage" wait)
  res_rate=$(field rate "$out") res_n=$(field records "$out") res_secs=$(field seconds "$out")
  res_cpu=$(cpu_s "$2")
  res_hwm=$(bench_vmhwm_kib "$2")
  stop "$2"
}

field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p" <<<"$2"; }
median() { tr ' ' '\n' | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

echo
echo "tally-anonymizer benchmark: $records raw records, $partitions partitions, $(nproc) CPUs (broker included)"
copy_rates=() anon_rates=() anon_hwm=()
for r in $(seq 1 "$rounds"); do
  run_copy "$r"
  copy_rates+=("$res_rate")
  printf '  round %d  %-11s %8s records/s  (%s records in %s s, %s CPU s)\n' "$r" copy "$res_rate" "$res_n" \
    "$res_secs" "$res_cpu"
  run_anon "$r"
  anon_rates+=("$res_rate")
  anon_hwm+=("$res_hwm")
  printf '  round %d  %-11s %8s records/s  (%s records in %s s, %s CPU s)\n' "$r" anonymizer "$res_rate" "$res_n" \
    "$res_secs" "$res_cpu"
done
c=$(echo "${copy_rates[*]}" | median) a=$(echo "${anon_rates[*]}" | median)
awk -v a="$a" -v c="$c" 'BEGIN { printf "  medians: copy %.0f, anonymizer %.0f records/s; ratio anonymizer / copy: %.2f (target >= 0.50)\n", c, a, a / c }'
bench_print_peak tally-anonymizer 150 "$records" "${anon_hwm[@]}"
out=$("$TALLY_BUILD_DIR/tests/bench_scrub_worst" --reps=10)
printf '  scrub worst case: %s ms per 64 KiB of hostile text (%s CPU ms; best of %s; slowest single scrub %s ms; %s texts)\n' \
  "$(field worst_ms "$out")" "$(field worst_cpu_ms "$out")" "$(field reps "$out")" "$(field worst_single_ms "$out")" \
  "$(field texts "$out")"
printf '    slowest text: %s\n' "${out#*what=}"
