#!/usr/bin/env bash
# Freshness benchmark (issue 15): how long a usage report takes from the
# gateway's 202 until the Control Panel can see it in PostgreSQL, and where
# that time goes. Prints figures, asserts no target.
#
#   tests/bench/freshness.sh [MAX_RATE]
#
# It starts a stack of its own (Kafka, PostgreSQL and the pipeline through
# deploy/local/*.sh, on its own ports and a temporary TALLY_STATE, like
# tests/deploy/test_up.sh) and removes all of it at the end: the shared
# broker and PostgreSQL are never touched. bench_freshness
# (tests/bench/freshness_load.c) is the load and the stopwatch:
#   load      usage reports, one a request, from several reporters at fixed
#             times (open loop); each reporter is alone in its own tenant
#             and environment, its counters cumulative (report k carries
#             api_calls = k), so "report k is visible" is "that cell's row of
#             tally.api_usage_daily reached k" (over its value before).
#   timed     per report, on one monotonic clock, from outside the pipeline:
#             t0 = the 202 (the broker acknowledged it);
#             raw, clean, rollup = this tool's own consumer polls the
#             record from tally.usage.raw, tally.usage (read_committed: the
#             anonymizer's commit), tally.rollups (read_committed: the
#             aggregator's commit; the cell's first rollup reaching k);
#             visible = the first poll of PostgreSQL (one query for every
#             cell, every FRESH_POLL_MS) whose answer showed the row at k,
#             stamped when that answer arrived.
#   printed   p50/p90/p99/max and mean of visible - t0 (e2e) and of each
#             stage: gateway (t0 -> raw: may be below 0, the broker's ack
#             reaches the gateway and this consumer at about the same time),
#             anonymizer (raw -> clean), aggregator (clean -> rollup),
#             materializer (rollup -> visible); share = the stage's mean
#             over the e2e mean (the means add up). Apart: request (the
#             POST itself, send -> 202).
#   resolution  PostgreSQL: the poll period (printed, measured) plus the
#             query time (printed); each topic stamp: the time for this
#             consumer's fetch to return once the record or its commit
#             marker landed (a waiting fetch is answered at once; at most
#             fetch.wait.max.ms = 50 otherwise).
# Loads: light (FRESH_LIGHT_RATE reports/s, 4 reporters) and half of the
# pipeline's maximum (about 10 reports/s a reporter, 4 to 128 of them):
# MAX_RATE, or measured first by a closed-loop run (FRESH_MAX_REPORTERS
# reporters sending back to back for FRESH_MAX_DURATION s; its maximum is
# the reports that became visible in PostgreSQL per second while they
# sent, after the warm-up: one report a request, as reporters send them,
# so the gateway's answer time bounds it as much as the consumers do; the
# request line shows that time).
# FRESH_ROUNDS rounds of both loads; the summary gives the median over the
# rounds of each figure. Fails (exit 1, a message naming what is missing)
# when a report is refused or does not land in every topic and in
# PostgreSQL within FRESH_TIMEOUT s; it prints no figure it did not measure.
#
# Environment, with defaults:
#   FRESH_ROUNDS=3  FRESH_DURATION=30 (measured s per load)  FRESH_WARMUP=3
#   FRESH_LIGHT_RATE=20  FRESH_POLL_MS=5  FRESH_TIMEOUT=120
#   FRESH_MAX_REPORTERS=32  FRESH_MAX_DURATION=20
#   FRESH_BROKER_PORT=29592 FRESH_PG_PORT=25698 FRESH_GATEWAY_PORT=18481
#   FRESH_ADMIN_PORT_BASE=19500 FRESH_CONSOLE_PORT=18490
#   FRESH_KEEP_LOGS=0  (1: copy the pipeline's logs to a folder kept at the end)
#   FRESH_TOOL=$TALLY_BUILD_DIR/tests/bench_freshness  (e.g. a sanitizer build's)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

max_rate=${1:-}
rounds=${FRESH_ROUNDS:-3}
duration=${FRESH_DURATION:-30}
warmup=${FRESH_WARMUP:-3}
light_rate=${FRESH_LIGHT_RATE:-20}
poll_ms=${FRESH_POLL_MS:-5}
timeout=${FRESH_TIMEOUT:-120}
max_reporters=${FRESH_MAX_REPORTERS:-32}
max_duration=${FRESH_MAX_DURATION:-20}
cells=128  # registered reporter cells, one connection each: no load uses more

# A stack of its own: ports below the ephemeral range, a fresh state folder.
export TALLY_STATE
TALLY_STATE=$(mktemp -d /tmp/tally-fresh.XXXXXX)
chmod 755 "$TALLY_STATE"
export TALLY_BROKERS=127.0.0.1:${FRESH_BROKER_PORT:-29592} TALLY_PG_PORT=${FRESH_PG_PORT:-25698}
export TALLY_GATEWAY_PORT=${FRESH_GATEWAY_PORT:-18481} TALLY_ADMIN_PORT_BASE=${FRESH_ADMIN_PORT_BASE:-19500}
export TALLY_CONSOLE_PORT=${FRESH_CONSOLE_PORT:-18490}
unset TALLY_PG_URL TALLY_PG_MATERIALIZER_URL TALLY_PG_GATEWAY_URL TALLY_PG_READER_URL
source deploy/local/env.sh
tool=${FRESH_TOOL:-$TALLY_BUILD_DIR/tests/bench_freshness}
work=$TALLY_STATE/bench

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ ${FRESH_KEEP_LOGS:-0} == 1 ]]; then
    local keep
    keep=$(mktemp -d /tmp/tally-fresh-logs.XXXXXX)
    cp -r "$TALLY_STATE/pipeline"/*.log "$work" "$keep/" 2>/dev/null || true
    tally_log "fresh: logs kept in $keep"
  elif [[ $rc -ne 0 && -d $TALLY_STATE/pipeline ]]; then
    for log in "$TALLY_STATE"/pipeline/*.log; do
      [[ -s $log ]] && { echo "--- last lines of $(basename "$log")"; tail -n 5 "$log"; } >&2
    done
  fi
  deploy/local/down.sh --wipe >/dev/null 2>&1 || tally_log "fresh: down.sh --wipe failed"
  rm -rf "$TALLY_STATE"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- build, services, pipeline ------------------------------------------------

tally_log "fresh: building in $TALLY_BUILD_DIR"
tally_build tally-gateway tally-anonymizer tally-aggregator tally-materializer tally-console tally-kafka-admin \
  tally-migrate tally bench_freshness
mkdir -p "$work"
tally_log "fresh: own stack: Kafka $TALLY_BROKERS, PostgreSQL :$TALLY_PG_PORT, state $TALLY_STATE"
deploy/local/kafka.sh start
deploy/local/postgres.sh start
# Every reporter connects from 127.0.0.1: no per-client connection limit
# (the gateway's default is 64; set through its environment variable).
TALLY_PER_CLIENT_CONNECTION_LIMIT=0 deploy/local/pipeline.sh start
gateway=http://127.0.0.1:$TALLY_GATEWAY_PORT

# --- the reporters' cells: tenant, environment, API key each ------------------

prefix=fresh-
now_ms=$(($(date +%s) * 1000))
for ((i = 0; i < cells; i++)); do
  t=$prefix$i
  key_sha=$(printf '%s' "${prefix}key-$i" | sha256sum | cut -d' ' -f1)
  for p in "{\"TenantRegistered\":{\"name\":\"Fresh $i\"}}" \
    "{\"MemberAdded\":{\"member_id\":\"$t-owner\",\"first_name\":\"Fresh\",\"last_name\":\"Owner\",\"email\":\"owner@$t.example\",\"role\":\"owner\"}}" \
    "{\"EnvironmentCreated\":{\"environment_id\":\"$t-env\",\"name\":\"$t-env\",\"kind\":\"production\",\"owner\":\"$t-owner\"}}" \
    "{\"ApiKeyIssued\":{\"key_id\":\"key-$t\",\"environment_id\":\"$t-env\",\"key_sha256\":\"$key_sha\"}}"; do
    h=$(printf '%s %s' "$t" "$p" | md5sum)
    printf '{"event_id":"%s-%s-4%s-a%s-%s","tenant_id":"%s","occurred_at":%d,"payload":%s}\n' \
      "${h:0:8}" "${h:8:4}" "${h:13:3}" "${h:17:3}" "${h:20:12}" "$t" "$now_ms" "$p"
  done
done >"$work/controlpanel.ndjson"
TALLY_CONFIG_DIR=$work/client TALLY_STATE_DIR=$work/client TALLY_TELEMETRY=1 \
  "$TALLY_BUILD_DIR/bin/tally" --gateway="$gateway" send controlpanel \
  --admin-token="$(deploy/local/pipeline.sh admin-token)" <"$work/controlpanel.ndjson" >/dev/null ||
  tally_die "fresh: the Control Panel events for the reporters' cells were not accepted"
# The gateway knows a key once it answers 403 (the body's tenant is not the
# key's) instead of 401 (unknown key); nothing is written either way.
probe='{"tenant_id":"nobody","environment_id":"nobody","reporter_id":"00000000-0000-4000-8000-000000000000","reporter_started_at":0,"seq":1,"observed_at":0,"api_calls":0,"status_4xx":0,"status_5xx":0,"exec_ms":0}'
for i in $(seq 1 300); do
  st=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
    -H "Authorization: Bearer ${prefix}key-$((cells - 1))" --data "$probe" "$gateway/v1/usage/reports")
  [[ $st == 403 ]] && break
  ((i < 300)) || tally_die "fresh: the gateway does not know the reporters' API keys after 60 s (last answer $st)"
  sleep 0.2
done
tally_log "fresh: $cells reporter cells registered; the gateway knows their keys"

# --- the runs ------------------------------------------------------------------

# run LABEL RATE REPORTERS DURATION: one bench_freshness run, its lines
# appended to results (with the round), the FRESH line echoed.
results=$work/results
: >"$results"
run() {
  local label=$1 rate=$2 reporters=$3 secs=$4 out=$work/run.out
  tally_log "fresh: $label: $rate reports/s (0: closed loop) from $reporters reporters, ${secs} s + ${warmup} s warm-up"
  "$tool" --gateway="$gateway" --brokers="$TALLY_BROKERS" --schemas=schemas --pg-url="$TALLY_PG_READER_URL" \
    --prefix="$prefix" --reporters="$reporters" --rate="$rate" --duration="$secs" --warmup="$warmup" \
    --poll-ms="$poll_ms" --timeout="$timeout" --label="$label" >"$out" ||
    tally_die "fresh: $label: bench_freshness failed (above: what did not land); no figures"
  grep '^FRESH ' "$out" >&2
  local sent_rate
  sent_rate=$(field sent_rate "$(grep '^FRESH ' "$out")")
  awk -v r="$rate" -v s="$sent_rate" 'BEGIN { exit !(r == 0 || s >= 0.9 * r) }' ||
    tally_die "fresh: $label: the reporters sent $sent_rate reports/s, not the $rate asked (202s too slow): no figures"
  sed "s/^/round=${round:-0} /" "$out" >>"$results"
}
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<" $2"; }

if [[ -z $max_rate ]]; then
  round=0
  run max 0 "$max_reporters" "$max_duration"
  max_rate=$(field landed_rate "$(grep '^round=0 FRESH label=max ' "$results")")
  max_src="measured: closed loop, $max_reporters reporters, ${max_duration} s, $(field sent_rate "$(grep '^round=0 FRESH label=max ' "$results")") reports/s sent"
else
  max_src="given"
fi
half_rate=$(awk -v m="$max_rate" 'BEGIN { printf "%d", m / 2 }')
((half_rate >= 1)) || tally_die "fresh: half of the maximum ($max_rate reports/s) is below 1 report/s"
# About 10 reports/s per reporter: each waits for its 202 (acks=all), which
# takes tens of ms on a busy machine; a send more than one interval behind
# its time is counted late.
half_reporters=$(((half_rate + 9) / 10))
((half_reporters < 4)) && half_reporters=4
((half_reporters > cells)) && half_reporters=$cells
for round in $(seq 1 "$rounds"); do
  run light "$light_rate" 4 "$duration"
  run half "$half_rate" "$half_reporters" "$duration"
done

# --- summary -------------------------------------------------------------------

echo
echo "Tally freshness: a usage report's 202 at the gateway to its count visible in tally.api_usage_daily"
echo "($(date -u +%Y-%m-%dT%H:%M:%SZ); $(nproc) CPU(s), load average $(cut -d' ' -f1-3 /proc/loadavg); Kafka, PostgreSQL,"
echo " the pipeline and this tool share them)"
echo "maximum: $max_rate reports/s ($max_src); median of $rounds round(s) of ${duration} s per load"
awk -v rounds="$rounds" '
  function median(key,   n, i, j, v, t) {
    n = split(vals[key], v, " ")
    for (i = 2; i <= n; i++) { t = v[i]; for (j = i - 1; j >= 1 && v[j] + 0 > t + 0; j--) v[j + 1] = v[j]; v[j + 1] = t }
    return n ? v[int((n + 1) / 2)] : "-"
  }
  function kv(line, name,   re) { re = " " name "="; if (!match(line, re "[^ ]*")) return ""; return substr(line, RSTART + length(re), RLENGTH - length(re)) }
  {
    label = kv(" " $0, "label"); if (label == "max" ) next
    if ($2 == "FRESH") {
      labels[label] = 1
      split("rate sent_rate measured late retries poll_period_ms query_ms reporters", ks, " ")
      for (k in ks) vals[label SUBSEP ks[k]] = vals[label SUBSEP ks[k]] " " kv(" " $0, ks[k])
    } else if ($2 == "STAGE") {
      name = kv(" " $0, "name")
      split("p50_ms p90_ms p99_ms max_ms mean_ms", ks, " ")
      for (k in ks) vals[label SUBSEP name SUBSEP ks[k]] = vals[label SUBSEP name SUBSEP ks[k]] " " kv(" " $0, ks[k])
    }
  }
  END {
    n = split("light half", order, " ")
    split("e2e gateway anonymizer aggregator materializer request", stages, " ")
    split("202->visible 202->raw raw->clean clean->rollup rollup->visible send->202", what, " ")
    for (o = 1; o <= n; o++) {
      l = order[o]; if (!(l in labels)) continue
      printf "\n%s: %s reports/s asked, %s sent (median), %s reporters, %s reports measured a round; late sends %s, retries %s\n", \
        l, median(l SUBSEP "rate"), median(l SUBSEP "sent_rate"), median(l SUBSEP "reporters"), median(l SUBSEP "measured"), \
        median(l SUBSEP "late"), median(l SUBSEP "retries")
      printf "  resolution: PostgreSQL polled every %s ms (measured), each query %s ms\n", median(l SUBSEP "poll_period_ms"), median(l SUBSEP "query_ms")
      printf "  %-13s %-16s %9s %9s %9s %9s %9s %6s\n", "stage", "", "p50 ms", "p90 ms", "p99 ms", "max ms", "mean ms", "share"
      e2e = median(l SUBSEP "e2e" SUBSEP "mean_ms")
      for (s = 1; s <= 6; s++) {
        k = l SUBSEP stages[s]
        m = median(k SUBSEP "mean_ms")
        share = s < 6 ? sprintf("%5.0f%%", e2e > 0 ? 100 * m / e2e : 0) : "     -"
        printf "  %-13s %-16s %9s %9s %9s %9s %9s %s\n", stages[s], what[s], median(k SUBSEP "p50_ms"), median(k SUBSEP "p90_ms"), \
          median(k SUBSEP "p99_ms"), median(k SUBSEP "max_ms"), m, share
      }
    }
    print "\n(each figure: the median over the rounds of that round'"'"'s figure; share: stage mean / e2e mean)"
  }' "$results"
