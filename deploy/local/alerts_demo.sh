#!/usr/bin/env bash
# The usage alerts of the local demo: Globex crosses 80 % and 100 % of its
# monthly API calls during the simulated month, and its webhook receives
# both alerts, signed.
#   alerts_demo.sh setup   (simulate.sh runs it between the Control Panel
#                          events and the usage, through up.sh) as vendor
#                          staff, through the console: Globex's alert rules
#                          (monthly API calls at 80 % and 100 %, no other
#                          alert) and Globex's webhook, http://127.0.0.1:
#                          $TALLY_ALERTS_LISTEN_PORT/globex (http to loopback:
#                          local mode); the secret the console returns, once,
#                          goes into <state>/alerts/globex-webhook.secret
#                          (mode 600); `tally webhook-listen` runs on that
#                          port with it, and another on the vendor's port
#                          (TALLY_WEBHOOK_LISTEN_PORT) with the vendor secret.
#                          Once set, a second run sets nothing again (same
#                          secret, no new event) and only starts a listener
#                          that is not running.
#   alerts_demo.sh wait    waits (at most TALLY_ALERTS_WAIT seconds, default
#                          120) until Globex's listener (and the vendor's) has
#                          printed both TRIGGERED alerts of the monthly API
#                          calls, then
#                          prints what each listener received (exit 1 naming
#                          what is missing)
#   alerts_demo.sh stop    stops the listeners (their summary line, "N printed,
#                          N duplicates, N refused", ends their log)
# The listeners print one line per webhook-id whose signature and timestamp
# verify (401 otherwise): <state>/alerts/{globex,vendor}.out.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

dir=$TALLY_STATE/alerts
pipeline_state=$TALLY_STATE/pipeline
globex_port=${TALLY_ALERTS_LISTEN_PORT:-8096}
vendor_port=${TALLY_WEBHOOK_LISTEN_PORT:-8095}
console=http://127.0.0.1:${TALLY_CONSOLE_PORT:-8090}
wait_s=${TALLY_ALERTS_WAIT:-120}
mkdir -p "$dir"
chmod 700 "$dir"

pid_of() {
  local f=$dir/$1.pid
  [[ -f $f ]] && kill -0 "$(cat "$f")" 2>/dev/null && cat "$f"
}

# Starts `tally webhook-listen PORT` as NAME with SECRET_FILE unless it runs.
listen() { # name port secret_file
  pid_of "$1" >/dev/null && return 0
  setsid "$TALLY_BUILD_DIR/bin/tally" webhook-listen "$2" --secret-file "$3" \
    </dev/null >>"$dir/$1.out" 2>"$dir/$1.log" &
  echo $! >"$dir/$1.pid"
  for _ in $(seq 1 100); do
    grep -q "listening on 127.0.0.1:$2" "$dir/$1.log" && return 0
    pid_of "$1" >/dev/null || break
    sleep 0.1
  done
  tail -n 5 "$dir/$1.log" >&2
  tally_die "alerts: tally webhook-listen $2 ($1) did not start"
}

stop_one() {
  local pid
  pid=$(pid_of "$1") || { rm -f "$dir/$1.pid"; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  rm -f "$dir/$1.pid"
}

# POSTs/PUTs JSON body to the console as staff; the answer on stdout; fails
# (naming the route and the answer) unless it is 202.
staff_send() { # method path body
  local out code
  out=$(curl -sS -X "$1" -H "Authorization: Bearer $(cat "$pipeline_state/staff-token")" \
    -H 'Content-Type: application/json' --data-binary "$3" -w '\n%{http_code}' "$console$2") ||
    tally_die "alerts: the console did not answer $1 $2"
  code=${out##*$'\n'}
  [[ $code == 202 ]] || tally_die "alerts: $1 $2 answered $code: ${out%$'\n'*}"
  printf '%s\n' "${out%$'\n'*}"
}

setup() {
  local secret_file=$dir/globex-webhook.secret answer secret
  if [[ ! -s $dir/globex-rules.set ]]; then
    staff_send POST /api/v1/alert-rules \
      '{"tenant_id":"globex","api_calls_percent":[80,100],"nonprod_daily_percent":[],"seats_percent":[]}' >/dev/null
    date -u +%FT%TZ >"$dir/globex-rules.set"
    tally_log "alerts: Globex's alert rules set (monthly API calls at 80 % and 100 %)"
  fi
  if [[ ! -s $secret_file ]]; then
    answer=$(staff_send PUT /api/v1/webhook \
      "{\"tenant_id\":\"globex\",\"url\":\"http://127.0.0.1:$globex_port/globex\"}")
    secret=$(grep -o '"secret":"whsec_[A-Za-z0-9+/=]*"' <<<"$answer" | cut -d'"' -f4) ||
      tally_die "alerts: the console's answer held no secret"
    (umask 077; printf '%s\n' "$secret" >"$secret_file")
    tally_log "alerts: Globex's webhook set to http://127.0.0.1:$globex_port/globex (its secret, shown once by the console, in ${secret_file#$TALLY_ROOT/})"
  fi
  listen globex "$globex_port" "$secret_file"
  [[ ! -s $pipeline_state/vendor-webhook.secret ]] ||
    listen vendor "$vendor_port" "$pipeline_state/vendor-webhook.secret"
}

want=("ALERT TRIGGERED tenant=globex metric=MONTHLY_API_CALLS threshold=80%"
      "ALERT TRIGGERED tenant=globex metric=MONTHLY_API_CALLS threshold=100%")

wait_alerts() {
  local missing
  for _ in $(seq 1 $((wait_s * 5))); do
    missing=()
    for w in "${want[@]}"; do
      grep -qF "$w " "$dir/globex.out" 2>/dev/null || missing+=("Globex's webhook: $w")
      # The vendor's webhook gets every alert too (when its listener runs).
      ! pid_of vendor >/dev/null || grep -qF "$w " "$dir/vendor.out" 2>/dev/null || missing+=("the vendor's webhook: $w")
    done
    [[ ${#missing[@]} -eq 0 ]] && break
    pid_of globex >/dev/null || tally_die "alerts: Globex's listener is not running (${dir#$TALLY_ROOT/}/globex.log)"
    sleep 0.2
  done
  if [[ ${#missing[@]} -ne 0 ]]; then
    printf '  missing: %s\n' "${missing[@]}" >&2
    tally_die "alerts: Globex's webhook did not receive both alerts within $wait_s s (logs: ${dir#$TALLY_ROOT/}/, deploy/local/pipeline.sh logs notifier|webhooks)"
  fi
  echo "Usage alerts received by Globex's webhook (tally webhook-listen $globex_port, signatures verified):"
  sed 's/^/  /' "$dir/globex.out"
  # The console lists the same alerts (tally.alerts projected by the
  # materializer; GET /api/v1/alerts, the overview's table) once they landed.
  local period ids id listed answer
  period=$(grep -o ' period=[0-9-]*' "$dir/globex.out" | head -n1 | cut -d= -f2)
  ids=$(grep -o ' id=[0-9a-f-]*' "$dir/globex.out" | cut -d= -f2)
  for _ in $(seq 1 $((wait_s * 5))); do
    answer=$(curl -sS -H "Authorization: Bearer $(cat "$pipeline_state/staff-token")" \
      "$console/api/v1/alerts?period=${period:0:7}&tenant=globex" 2>/dev/null) || answer=
    listed=0
    for id in $ids; do [[ $answer == *"\"$id\""* ]] && listed=$((listed + 1)); done
    [[ $listed -eq $(wc -w <<<"$ids") ]] && break
    sleep 0.2
  done
  [[ $listed -eq $(wc -w <<<"$ids") ]] ||
    tally_die "alerts: the console's GET /api/v1/alerts?period=${period:0:7}&tenant=globex lists $listed of the $(wc -w <<<"$ids") alerts Globex received"
  echo "The console lists them too ($console/api/v1/alerts?period=${period:0:7}&tenant=globex): $listed of $(wc -w <<<"$ids")"
  if [[ -s $dir/vendor.out ]]; then
    echo "Usage alerts received by the vendor's webhook (tally webhook-listen $vendor_port):"
    sed 's/^/  /' "$dir/vendor.out"
  fi
}

case "${1:-}" in
  setup) setup ;;
  wait) wait_alerts ;;
  stop) stop_one globex; stop_one vendor ;;
  *) echo "usage: $0 setup|wait|stop" >&2; exit 2 ;;
esac
