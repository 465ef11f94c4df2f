#!/usr/bin/env bash
# Benchmark of tally-gateway (issue #3): prints figures, asserts nothing.
#
# Starts (or reuses) the local Kafka broker, builds what it needs, creates
# fresh topics of its own, starts a tally-gateway on them with rate limits
# out of the way, and drives it with wrk (tests/bench/gateway_post.lua):
#   product single   POST /v1/product/events, one event a request
#   product batch    the same, a JSON array of BENCH_BATCH events a request
#   usage single     POST /v1/usage/reports with the API key: each answer
#   usage batch      waits for Kafka's acknowledgement (acks=all)
# then measures the physical limit on the same broker: bench_produce_direct
# encodes the same product event with the gateway's codec and produces as
# many records (as the batched product run delivered) straight through
# librdkafka with the gateway's producer settings.
#
# For each mode: events/s (2xx requests x events per request, over wrk's
# duration), cross-checked with the gateway's
# tally_gateway_events_accepted_total and the topic's end offsets; p50 and
# p99 latency (wrk's, closed loop: at saturation, so latency ~ connections /
# throughput); the gateway's peak RSS (VmRSS sampled every 100 ms, and VmHWM);
# CPU used by the gateway and the broker; the ratio gateway / direct.
#
# Usage: tests/bench/gateway.sh        (environment, with defaults:)
#   BENCH_DURATION=15s      each wrk run
#   BENCH_THREADS=2         wrk threads
#   BENCH_CONNECTIONS=32    wrk connections
#   BENCH_BATCH=100         events per batched request
#   BENCH_GW_THREADS=nproc  the gateway's HTTP threads (--threads)
#   BENCH_PARTITIONS=6      partitions of each bench topic (as tally.product.raw)
#   BENCH_DIRECT_RECORDS=   records the direct producer sends (default: as
#                           many as the batched product run got into Kafka)
#   BENCH_KEEP_TOPICS=0     1: leave the bench topics on the broker
#   BENCH_MODES=...         comma-separated modes to run, of "product single",
#                           "product batch", "usage single", "usage batch" (all)
#   BENCH_GW_ARGS=          more options for the gateway(s), e.g. -X linger.ms=1
#   BENCH_NEW_ARGS=         more options for this build's gateway only (with
#                           BENCH_BASELINE: options the old one does not know)
#   BENCH_BASELINE=         a build folder of another source (e.g. a git archive of
#                           main, built in /tmp): its tally-gateway ("old") and this
#                           build's ("new") run the modes in turn, BENCH_ROUNDS times,
#                           and the medians are printed side by side with ratios
#   BENCH_ROUNDS=3          rounds of old and new (with BENCH_BASELINE)
#   BENCH_KEEP_LOGS=0       1: keep the work folder (wrk and gateway logs)
# and deploy/local/env.sh's TALLY_BROKERS, TALLY_BUILD_DIR, ...
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/../../deploy/local/env.sh"

duration=${BENCH_DURATION:-15s}
wrk_threads=${BENCH_THREADS:-2}
connections=${BENCH_CONNECTIONS:-32}
batch=${BENCH_BATCH:-100}
gw_threads=${BENCH_GW_THREADS:-$(nproc)}
partitions=${BENCH_PARTITIONS:-6}
direct_records=${BENCH_DIRECT_RECORDS:-}
baseline=${BENCH_BASELINE:-}
rounds=${BENCH_ROUNDS:-3}
[[ -z $baseline || -x $baseline/bin/tally-gateway ]] ||
  tally_die "BENCH_BASELINE: no $baseline/bin/tally-gateway (a build folder of the old source)"
gw_bin=$TALLY_BUILD_DIR/bin/tally-gateway
admin_bin=$TALLY_BUILD_DIR/bin/tally-kafka-admin
direct_bin=$TALLY_BUILD_DIR/tests/bench_produce_direct
lua=$here/gateway_post.lua
hz=$(getconf CLK_TCK)

command -v wrk >/dev/null || tally_die "wrk not found (Debian package wrk)"
command -v curl >/dev/null || tally_die "curl not found"

work=$(mktemp -d /tmp/tally-bench.XXXXXX)
kafka_started=0 gw_pid='' sampler_pid='' topics=() failed=1

# start_gateway BIN LOG [OPTION...]: starts the gateway BIN on the bench topics
# (with BENCH_GW_ARGS and the OPTIONs); sets gw_pid and base once it is ready.
start_gateway() {
  local bin=$1 log=$2
  shift 2
  # shellcheck disable=SC2086 # BENCH_GW_ARGS: words on purpose
  "$bin" --port=0 --brokers="$TALLY_BROKERS" --threads="$gw_threads" \
    --product-topic="$product_topic" --usage-topic="$usage_topic" --controlpanel-topic="$cp_topic" \
    --keys-file="$work/keys" --schemas="$TALLY_ROOT/schemas" --catalog="$TALLY_ROOT/schemas/product-events.json" \
    --rate=1000000 --burst=1000000 --per-client-connection-limit=0 --connection-limit=4096 \
    --shutdown-timeout=20s ${BENCH_GW_ARGS:-} "$@" >"$log" 2>&1 &
  gw_pid=$!
  local port='' i
  for _ in $(seq 1 300); do
    port=$(sed -n 's/.*listening on [0-9.]*:\([0-9]*\).*/\1/p' "$log" | head -n 1)
    [[ -n $port ]] && break
    kill -0 "$gw_pid" 2>/dev/null || { cat "$log" >&2; tally_die "the gateway exited"; }
    sleep 0.1
  done
  [[ -n $port ]] || tally_die "the gateway did not say where it listens (log: $log)"
  base=http://127.0.0.1:$port
  for i in $(seq 1 300); do
    curl -sf "$base/readyz" >/dev/null && break
    ((i < 300)) || tally_die "the gateway never became ready (log: $log)"
    sleep 0.1
  done
}

# Stops the gateway started last (SIGTERM: it drains), if any.
stop_gateway() {
  if [[ -n $gw_pid ]] && kill -0 "$gw_pid" 2>/dev/null; then
    kill -TERM "$gw_pid"
    for _ in $(seq 1 150); do kill -0 "$gw_pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$gw_pid" 2>/dev/null || true
    wait "$gw_pid" 2>/dev/null || true
  fi
  gw_pid=''
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  [[ -n $sampler_pid ]] && kill "$sampler_pid" 2>/dev/null || true
  stop_gateway
  if ((${#topics[@]} > 0)) && [[ ${BENCH_KEEP_TOPICS:-0} != 1 ]]; then
    "$direct_bin" --brokers="$TALLY_BROKERS" delete "${topics[@]}" >/dev/null ||
      tally_log "bench: could not delete the topics ${topics[*]}"
  fi
  if ((kafka_started)); then
    "$TALLY_ROOT/deploy/local/kafka.sh" stop || true
  fi
  if [[ ${BENCH_KEEP_LOGS:-0} == 1 || ($failed == 1 && -n $(ls -A "$work")) ]]; then
    tally_log "bench: logs kept in $work"
  else
    rm -rf "$work"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- Kafka and the build ---------------------------------------------------

if ! "$TALLY_ROOT/deploy/local/kafka.sh" status >/dev/null 2>&1; then
  tally_log "bench: starting Kafka (stopped again at the end)"
  "$TALLY_ROOT/deploy/local/kafka.sh" start
  kafka_started=1
fi
tally_log "bench: building in $TALLY_BUILD_DIR"
tally_build tally-gateway tally-kafka-admin
targets=$(cmake --build "$TALLY_BUILD_DIR" --target help 2>/dev/null || true)
[[ $targets == *bench_produce_direct* ]] ||
  tally_die "no target bench_produce_direct: add 'add_subdirectory(bench)' to tests/CMakeLists.txt"
tally_build bench_produce_direct

# --- Topics, key, gateway --------------------------------------------------

run_id=$(date +%s)-$$
prefix=tally.bench.$run_id
product_topic=$prefix.product usage_topic=$prefix.usage cp_topic=$prefix.controlpanel direct_topic=$prefix.direct
for t in "$product_topic" "$usage_topic" "$cp_topic" "$direct_topic"; do
  printf '%s %d 3600000 delete\n' "$t" "$partitions"
done >"$work/topics.conf"
"$admin_bin" --brokers="$TALLY_BROKERS" topics "$work/topics.conf"
topics=("$product_topic" "$usage_topic" "$cp_topic" "$direct_topic")

api_key=bench_$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
printf '%s bench-tenant bench-env\n' "$(printf '%s' "$api_key" | sha256sum | cut -d' ' -f1)" >"$work/keys"

load0=$(cut -d' ' -f1-3 /proc/loadavg)
kafka_pid=$(cat "$TALLY_STATE/kafka/kafka.pid" 2>/dev/null || true)
[[ -n $kafka_pid ]] && kill -0 "$kafka_pid" 2>/dev/null || kafka_pid=''

# --- Measuring -------------------------------------------------------------

# CPU ticks (user + system) a process used so far; 0 when unknown.
cpu_ticks() {
  local line
  [[ -n $1 ]] && read -r line <"/proc/$1/stat" 2>/dev/null || { echo 0; return; }
  local rest=${line##*\) }
  local f=($rest)
  echo $((f[11] + f[12]))
}

# "<idle> <total>" CPU ticks of the whole machine so far.
host_ticks() {
  local cpu user nice sys idle iowait irq softirq steal
  read -r cpu user nice sys idle iowait irq softirq steal _ </proc/stat
  echo "$((idle + iowait)) $((user + nice + sys + idle + iowait + irq + softirq + steal))"
}

# CPU between two tick counts over wall milliseconds, in % of one core.
cpu_pct() { awk -v t="$1" -v hz="$hz" -v w="$2" 'BEGIN { printf "%.0f", (w > 0 ? 100 * t / hz / (w / 1000) : 0) }'; }

# "<VmRSS> <VmHWM>" of the gateway, KiB.
gw_mem() {
  local k v rss=0 hwm=0
  while read -r k v _; do
    case $k in VmRSS:) rss=$v ;; VmHWM:) hwm=$v ;; esac
  done <"/proc/$gw_pid/status"
  echo "$rss $hwm"
}

# Samples the gateway's VmRSS every 100 ms until $1 exists; writes the peak to $2.
sample_rss() {
  local stop=$1 out=$2 peak=0 k v
  while [[ ! -e $stop ]] && [[ -r /proc/$gw_pid/status ]]; do
    while read -r k v _; do
      [[ $k == VmRSS: ]] && ((v > peak)) && peak=$v
    done <"/proc/$gw_pid/status"
    sleep 0.1
  done
  echo "$peak" >"$out"
}

# The gateway's /metrics into file $1.
metrics_snapshot() { curl -sf "$base/metrics" >"$1" || tally_die "GET /metrics failed"; }

# "accepted rejected delivered failed" of a snapshot: events accepted on
# route $2, rejected for any reason, records acknowledged and failed.
metrics_counts() {
  awk -v route="$2" '
    $1 == ("tally_gateway_events_accepted_total{route=\"" route "\"}") { a = $2 }
    $1 ~ /^tally_gateway_events_rejected_total/ { r += $2 }
    $1 == "tally_gateway_records_delivered_total" { d = $2 }
    $1 == "tally_gateway_records_failed_total" { f = $2 }
    END { printf "%d %d %d %d\n", a, r, d, f }' "$1"
}

# HTTP statuses answered on path $3 between snapshots $1 and $2: "202:n 503:m".
metrics_statuses() {
  awk -v path="$3" '
    index($1, "tally_gateway_requests_total{route=\"" path "\",") == 1 {
      st = $1; sub(/.*status="/, "", st); sub(/".*/, "", st)
      if (FILENAME == ARGV[1]) before[st] = $2; else n[st] = $2 - before[st]
    }
    END { for (st in n) if (n[st] > 0) out = out (out ? " " : "") st ":" n[st]; print (out ? out : "-") }' "$1" "$2"
}

end_offset() {
  "$direct_bin" --brokers="$TALLY_BROKERS" offsets "$1" | awk '{print $2}'
}

# key=value field of a line.
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<" $2"; }

# Per mode, indexed like modes[].
modes=() m_events=() m_reqs=() m_p50=() m_p99=() m_rss=() m_hwm=() m_gwcpu=() m_kcpu=() m_wrkcpu=()
m_othercpu=() m_cpu_us=() m_accepted=() m_offsets=() m_wrk_events=() m_rejected=() m_statuses=() m_sockerr=() m_drain=()

# run_mode NAME ROUTE EVENTS_PER_REQUEST
run_mode() {
  local name=$1 route=$2 per=$3 topic path log=$work/wrk-${1// /-}.log snap=$work/metrics-${1// /-}
  if [[ $route == product ]]; then
    topic=$product_topic path=/v1/product/events
  else
    topic=$usage_topic path=/v1/usage/reports
  fi
  tally_log "bench: $name: wrk -t$wrk_threads -c$connections -d$duration ($per event(s) a request)"
  local m0 m1 off0 off1 g0 g1 k0 k1 h0 h1 t0 wall
  metrics_snapshot "$snap.0"
  m0=($(metrics_counts "$snap.0" "$route"))
  off0=$(end_offset "$topic")
  rm -f "$work/stop"
  sample_rss "$work/stop" "$work/rss" &
  sampler_pid=$!
  g0=$(cpu_ticks "$gw_pid") k0=$(cpu_ticks "$kafka_pid") h0=($(host_ticks)) t0=$(date +%s%N)
  local timed=()
  [[ -x /usr/bin/time ]] && timed=(/usr/bin/time -o "$work/wrk-time" -f '%U %S')
  "${timed[@]}" wrk -t"$wrk_threads" -c"$connections" -d"$duration" --latency -s "$lua" "$base" -- \
    "$route" "$per" "$api_key" >"$log" 2>&1 || { cat "$log" >&2; tally_die "wrk failed"; }
  g1=$(cpu_ticks "$gw_pid") k1=$(cpu_ticks "$kafka_pid") h1=($(host_ticks))
  wall=$((($(date +%s%N) - t0) / 1000000))
  touch "$work/stop"
  wait "$sampler_pid"
  sampler_pid=''
  local mem=($(gw_mem))
  # Product requests are answered before Kafka's acknowledgement: wait
  # until everything accepted is acknowledged (or failed) before counting.
  local prev='' drain_t0 drain_ms acc done_
  drain_t0=$(date +%s%N)
  for _ in $(seq 1 600); do
    metrics_snapshot "$snap.1"
    m1=($(metrics_counts "$snap.1" "$route"))
    acc=$((m1[0] - m0[0])) done_=$((m1[2] + m1[3] - m0[2] - m0[3]))
    [[ $done_ -ge $acc && "${m1[*]}" == "$prev" ]] && break
    prev="${m1[*]}"
    sleep 0.1
  done
  drain_ms=$((($(date +%s%N) - drain_t0) / 1000000))
  off1=$(end_offset "$topic")

  local line requests non2xx dur_us
  line=$(grep '^BENCH ' "$log") || { cat "$log" >&2; tally_die "no BENCH line from wrk"; }
  requests=$(field requests "$line") non2xx=$(field non2xx "$line") dur_us=$(field duration_us "$line")
  # CPU of the whole machine (ticks of all cores) less the three we know.
  local busy=$(((h1[1] - h0[1]) - (h1[0] - h0[0]))) wrk_ticks=0
  if [[ -s $work/wrk-time ]]; then
    wrk_ticks=$(awk -v hz="$hz" '{ printf "%.0f", ($1 + $2) * hz }' "$work/wrk-time")
    m_wrkcpu+=("$(cpu_pct "$wrk_ticks" "$wall")%")
  else
    m_wrkcpu+=(-)
  fi
  modes+=("$name")
  m_events+=("$(awk -v r="$requests" -v n="$non2xx" -v p="$per" -v d="$dur_us" 'BEGIN { printf "%.0f", (r - n) * p / (d / 1e6) }')")
  m_reqs+=("$(awk -v r="$requests" -v d="$dur_us" 'BEGIN { printf "%.0f", r / (d / 1e6) }')")
  m_p50+=("$(field p50_us "$line")")
  m_p99+=("$(field p99_us "$line")")
  m_rss+=("$(cat "$work/rss")")
  m_hwm+=("${mem[1]}")
  m_gwcpu+=("$(cpu_pct $((g1 - g0)) "$wall")%")
  m_kcpu+=("$(cpu_pct $((k1 - k0)) "$wall")%")
  m_cpu_us+=("$(awk -v t=$((g1 - g0)) -v hz="$hz" -v n=$((m1[0] - m0[0])) 'BEGIN { printf "%.1f", (n > 0 ? t / hz * 1e6 / n : 0) }')")
  m_othercpu+=("$(cpu_pct $((busy - (g1 - g0) - (k1 - k0) - wrk_ticks)) "$wall")%")
  m_wrk_events+=($(((requests - non2xx) * per)))
  m_accepted+=($((m1[0] - m0[0])))
  m_rejected+=($((m1[1] - m0[1])))
  m_offsets+=($((off1 - off0)))
  m_statuses+=("$(metrics_statuses "$snap.0" "$snap.1" "$path")")
  m_sockerr+=($(($(field connect_errors "$line") + $(field read_errors "$line") + $(field write_errors "$line") +
    $(field timeouts "$line"))))
  m_drain+=("$drain_ms")
}

# BENCH_MODES picks the modes (all by default), in this order.
all_modes=("product single:product:1" "product batch:product:$batch" "usage single:usage:1" "usage batch:usage:$batch")
picked=()
IFS=, read -r -a wanted <<<"${BENCH_MODES:-product single,product batch,usage single,usage batch}"
for w in "${wanted[@]}"; do
  found=''
  for spec in "${all_modes[@]}"; do [[ ${spec%%:*} == "$w" ]] && found=$spec; done
  [[ -n $found ]] || tally_die "BENCH_MODES: unknown mode '$w' (product single, product batch, usage single, usage batch)"
  picked+=("$found")
done

# run_modes LABEL: every picked mode against the gateway running now.
run_modes() {
  local spec rest
  for spec in "${picked[@]}"; do
    rest=${spec#*:}
    run_mode "${spec%%:*}" "${rest%%:*}" "${rest#*:}"
    m_label+=("$1")
  done
}

m_label=()
if [[ -n $baseline ]]; then
  # Old and new gateway alternate, one round after the other, on the same
  # topics: whatever else loads the machine meets both alike.
  for round in $(seq 1 "$rounds"); do
    for build in old new; do
      bin=$gw_bin args=(${BENCH_NEW_ARGS:-})
      [[ $build == old ]] && bin=$baseline/bin/tally-gateway args=()
      tally_log "bench: round $round/$rounds, $build gateway ($bin ${args[*]})"
      start_gateway "$bin" "$work/gateway-$build-$round.log" "${args[@]}"
      run_modes "$build"
      stop_gateway
    done
  done
else
  start_gateway "$gw_bin" "$work/gateway.log" ${BENCH_NEW_ARGS:-}
  run_modes new
fi

# --- The physical limit ----------------------------------------------------

# The last batched product run of the new gateway sets the direct run's size
# (and is the one compared with it); no batched product run, no direct run
# unless BENCH_DIRECT_RECORDS asks for one.
batch_i=''
for i in "${!modes[@]}"; do
  [[ ${modes[$i]} == "product batch" && ${m_label[$i]} == new ]] && batch_i=$i
done
want_direct=0 direct_rate=0
[[ -n $batch_i || -n $direct_records ]] && want_direct=1
if [[ -z $direct_records ]]; then
  direct_records=${m_offsets[${batch_i:-0}]:-0}
  ((direct_records > 0)) || direct_records=1000000
fi
if ((want_direct)); then
# The event of gateway_post.lua's product_event(0), received now.
now_ms=$(($(date +%s) * 1000))
cat >"$work/event.json" <<EOF
{"event_id":"00000000-0000-4000-8000-000000000000","source":"CLI","event":"project.create.start","occurred_at":$((now_ms - 1000)),"install_id":"bench-install-0000","project_id":"bench-project-0000","version":"5.2.1","ci":false,"properties":{"template":"blog","language":"typescript"}}
EOF
tally_log "bench: direct: $direct_records records through librdkafka"
k0=$(cpu_ticks "$kafka_pid") h0=($(host_ticks)) t0=$(date +%s%N)
direct_line=$("$direct_bin" produce --brokers="$TALLY_BROKERS" --schemas="$TALLY_ROOT/schemas" \
  --event="$work/event.json" --topic="$direct_topic" --records="$direct_records" | tee "$work/direct.log" |
  grep '^DIRECT ') ||
  tally_die "the direct producer failed"
k1=$(cpu_ticks "$kafka_pid") h1=($(host_ticks)) wall=$((($(date +%s%N) - t0) / 1000000))
direct_rate=$(field records_per_s "$direct_line")
direct_rss=$(field maxrss_kib "$direct_line")
direct_ticks=$(awk -v u="$(field cpu_user_s "$direct_line")" -v s="$(field cpu_sys_s "$direct_line")" -v hz="$hz" \
  'BEGIN { printf "%.0f", (u + s) * hz }')
busy=$(((h1[1] - h0[1]) - (h1[0] - h0[0])))
direct_offsets=$(end_offset "$direct_topic")
fi

# --- Report ----------------------------------------------------------------

ms() { awk -v u="$1" 'BEGIN { printf "%.2f ms", u / 1000 }'; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f MiB", k / 1024 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
# The name of run i: the mode, and which gateway when two were compared.
run_name() { if [[ -n $baseline ]]; then echo "${modes[$1]} (${m_label[$1]})"; else echo "${modes[$1]}"; fi; }

echo
echo "tally-gateway benchmark ($(date -u +%Y-%m-%dT%H:%M:%SZ))"
echo "machine:  $(nproc) CPU(s), $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n 1); load average before: $load0, after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "          wrk, the gateway and the broker share them (and anything else running)"
echo "wrk:      -t$wrk_threads -c$connections -d$duration --latency (closed loop: latency at saturation)"
echo "gateway:  --threads=$gw_threads ${BENCH_GW_ARGS:-} (new: ${BENCH_NEW_ARGS:-}); idempotent acks=all producer; topics of $partitions partitions on $TALLY_BROKERS"
[[ -n $baseline ]] && echo "compared: old $baseline/bin/tally-gateway, new $gw_bin; $rounds round(s), each runs old then new"
if ((want_direct)); then
  echo "batch:    $batch events a request; direct: $direct_records records of the same product event, same settings"
else
  echo "batch:    $batch events a request; no direct run (no batched product run of this build)"
fi
echo "VmHWM:    the gateway's peak RSS since it started (it runs the modes in the order shown)"
echo
fmt='%-22s %10s %8s %10s %10s %10s %10s %9s\n'
printf "$fmt" mode events/s req/s p50 p99 "RSS peak" VmHWM gw/direct
for i in "${!modes[@]}"; do
  printf "$fmt" "$(run_name "$i")" "${m_events[$i]}" "${m_reqs[$i]}" "$(ms "${m_p50[$i]}")" "$(ms "${m_p99[$i]}")" \
    "$(mib "${m_rss[$i]}")" "$(mib "${m_hwm[$i]}")" "$(ratio "${m_events[$i]}" "$direct_rate")"
done
((want_direct)) && printf "$fmt" "direct (rdkafka)" "$direct_rate" - - - "$(mib "$direct_rss")" - 1.00
echo
echo "cross-checks: events counted three ways; CPU in % of one core over the run"
fmt='%-22s %9s %9s %9s %5s %6s %8s %-18s %7s %7s %7s %7s %8s\n'
printf "$fmt" mode "wrk 2xx" accepted offsets rej "sockerr" drain "HTTP statuses" "gw CPU" broker wrk others "us/event"
for i in "${!modes[@]}"; do
  printf "$fmt" "$(run_name "$i")" "${m_wrk_events[$i]}" "${m_accepted[$i]}" "${m_offsets[$i]}" "${m_rejected[$i]}" \
    "${m_sockerr[$i]}" "${m_drain[$i]}ms" "${m_statuses[$i]}" "${m_gwcpu[$i]}" "${m_kcpu[$i]}" "${m_wrkcpu[$i]}" \
    "${m_othercpu[$i]}" "${m_cpu_us[$i]}"
done
((want_direct)) && printf "$fmt" "direct (rdkafka)" - "$(field delivered "$direct_line")" "$direct_offsets" - - - - \
  "$(cpu_pct "$direct_ticks" "$wall")%" "$(cpu_pct $((k1 - k0)) "$wall")%" - \
  "$(cpu_pct $((busy - direct_ticks - (k1 - k0))) "$wall")%" \
  "$(awk -v t="$direct_ticks" -v hz="$hz" -v n="$direct_records" 'BEGIN { printf "%.1f", t / hz * 1e6 / n }')"
echo "wrk 2xx: events in the 2xx answers wrk timed; accepted: tally_gateway_events_accepted_total (also"
echo "counts requests still open when wrk stopped); offsets: the topic's end offsets once everything"
echo "accepted was acknowledged (drain: how long that took); gw CPU: the direct producer's on its line;"
echo "us/event: CPU time of the gateway (or the direct producer) per accepted event, all its threads."
echo

if [[ -n $baseline ]]; then
  echo "old against new: medians of $rounds round(s); ratio new/old (events/s: higher is better; p99: lower)"
  fmt='%-16s %10s %10s %7s %10s %10s %7s %10s %10s\n'
  printf "$fmt" mode "old ev/s" "new ev/s" ratio "old p99" "new p99" ratio "old HWM" "new HWM"
  for spec in "${picked[@]}"; do
    name=${spec%%:*}
    declare -A ev=() p99=() hwm=()
    for build in old new; do
      e=() p=() h=0
      for i in "${!modes[@]}"; do
        [[ ${modes[$i]} == "$name" && ${m_label[$i]} == "$build" ]] || continue
        e+=("${m_events[$i]}") p+=("${m_p99[$i]}")
        ((m_hwm[i] > h)) && h=${m_hwm[$i]}
      done
      ev[$build]=$(median "${e[@]}") p99[$build]=$(median "${p[@]}") hwm[$build]=$h
    done
    printf "$fmt" "$name" "${ev[old]}" "${ev[new]}" "$(ratio "${ev[new]}" "${ev[old]}")" "$(ms "${p99[old]}")" \
      "$(ms "${p99[new]}")" "$(ratio "${p99[new]}" "${p99[old]}")" "$(mib "${hwm[old]}")" "$(mib "${hwm[new]}")"
    unset ev p99 hwm
  done
  echo
fi

verdict() { awk -v c="$1" 'BEGIN { print (c ? "met" : "NOT met") }'; }
if [[ -n $batch_i ]]; then
  batch_ratio=$(ratio "${m_events[$batch_i]}" "$direct_rate")
  echo "target: batched ingest >= 0.5 x direct: $batch_ratio -> $(verdict "$(awk -v r="$batch_ratio" 'BEGIN { print (r >= 0.5) }')")"
fi
peak=0
for i in "${!modes[@]}"; do
  [[ ${m_label[$i]} == new ]] || continue
  for v in "${m_rss[$i]}" "${m_hwm[$i]}"; do ((v > peak)) && peak=$v; done
done
echo "target: RSS < 100 MiB at any load:     $(mib "$peak") (new gateway) -> $(verdict "$(awk -v p="$peak" 'BEGIN { print (p < 100 * 1024) }')")"
failed=0
