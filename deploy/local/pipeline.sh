#!/usr/bin/env bash
# The pipeline processes on the local stack, each in the background with its
# log and pid file in the state folder:
#   tally-gateway       HTTP on 127.0.0.1:8080 (admin routes on the same port)
#   tally-anonymizer    admin on 127.0.0.1:9101
#   tally-aggregator    admin on 127.0.0.1:9102
#   tally-materializer  admin on 127.0.0.1:9103
#   tally-notifier      admin on 127.0.0.1:9105 (usage alerts to tally.alerts)
#   tally-webhooks      admin on 127.0.0.1:9106 (signed alert webhooks; the vendor
#                       target is http://127.0.0.1:$TALLY_WEBHOOK_LISTEN_PORT/alerts,
#                       where `tally webhook-listen PORT --secret-file
#                       <state>/pipeline/vendor-webhook.secret` prints them)
#   tally-console       the usage pages and their API on http://127.0.0.1:8090
#                       (reads PostgreSQL as tally_reader; cookies without
#                       Secure, as plain HTTP on loopback needs;
#                       tenants set their webhook there, its secret sealed to
#                       <state>/pipeline/webhook.pub (tally-webhooks' public keys))
#   pipeline.sh start|stop|status|restart NAME|kill NAME|logs NAME
# TALLY_GATEWAYS=N (N > 1): N gateways (gateway-1..N) on the ports after
# TALLY_GATEWAY_PORT, each trusting one proxy hop (--trusted-proxies=1), and
# Debian's HAProxy (deploy/setup.sh installs it then) on TALLY_GATEWAY_PORT
# in front of them, checking /readyz every 500 ms (<state>/pipeline/haproxy.cfg).
# Kafka and PostgreSQL must be up (kafka.sh, postgres.sh: it applies the
# migrations as the superuser). Each process connects to PostgreSQL as its
# own role (env.sh): the materializer as tally_materializer, which may write
# rows but not change the schema; the gateway reads its keys as
# tally_gateway, which may read the key view alone; the console reads the
# read model as tally_reader. Secrets (the admin token, the console's staff
# token, the pseudonym key), the license signing key) are made once into the state folder, mode 600.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

state=$TALLY_STATE/pipeline
bin=$TALLY_BUILD_DIR/bin
TALLY_GATEWAY_PORT=${TALLY_GATEWAY_PORT:-8080}
TALLY_ADMIN_PORT_BASE=${TALLY_ADMIN_PORT_BASE:-9100}   # anonymizer +1, aggregator +2, materializer +3, notifier +5, webhooks +6
TALLY_WEBHOOK_LISTEN_PORT=${TALLY_WEBHOOK_LISTEN_PORT:-8095}
TALLY_CONSOLE_PORT=${TALLY_CONSOLE_PORT:-8090}
TALLY_GATEWAYS=${TALLY_GATEWAYS:-1}
if [[ $TALLY_GATEWAYS -gt 1 ]]; then
  gateways=()
  for ((i = 1; i <= TALLY_GATEWAYS; i++)); do gateways+=("gateway-$i"); done
  names=("${gateways[@]}" haproxy anonymizer aggregator materializer console notifier webhooks)
else
  names=(gateway anonymizer aggregator materializer console notifier webhooks)
fi
mkdir -p "$state"

secrets() {
  umask 077
  [[ -s $state/admin-token ]] || head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$state/admin-token"
  [[ -s $state/staff-token ]] || head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$state/staff-token"
  [[ -s $state/pseudonym.keys ]] ||
    printf '# pseudonym keys: <version> <hex key>; newest used; once there are several,\n# "seat <version>" names the key seat references keep (never remove it)\n1 %s\n' \
      "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$state/pseudonym.keys"
  [[ -f $state/optout.txt ]] || printf '# project ids whose product events are dropped\n' >"$state/optout.txt"
  # The console signs licenses with the last line (docs/licenses.md, "Rotation").
  [[ -s $state/license.keys ]] ||
    printf '# license signing keys: <key id> <hex seed>; the last line signs\nlocal-1 %s\n' \
      "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$state/license.keys"
  # tally-webhooks opens tenant webhook secrets sealed to these keys (the last
  # line is current; `tally-webhooks --webhook-keys=... --print-public-keys`).
  [[ -s $state/webhook.keys ]] ||
    printf '# webhook sealing keys: <key id> <hex seed>; the last line is current\nlocal-1 %s\n' \
      "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$state/webhook.keys"
  [[ -s $state/vendor-webhook.secret ]] ||
    printf 'whsec_%s\n' "$(head -c 32 /dev/urandom | base64 -w0)" >"$state/vendor-webhook.secret"
  # Their public half, not secret: the console seals the tenants' new webhook
  # secrets with it (--webhook-public-key), so only tally-webhooks can open them.
  if [[ -x $bin/tally-webhooks && ( ! -s $state/webhook.pub || $state/webhook.keys -nt $state/webhook.pub ) ]]; then
    "$bin/tally-webhooks" --webhook-keys="$state/webhook.keys" --print-public-keys >"$state/webhook.pub.new" &&
      mv "$state/webhook.pub.new" "$state/webhook.pub"
  fi
}

# The balancer's configuration: round robin over the gateways that answer
# /readyz; a request is sent again elsewhere only when no connection was made
# (HAProxy's default retry-on), never a POST a gateway may have taken.
haproxy_cfg() {
  {
    printf 'global\n  maxconn 4000\ndefaults\n  mode http\n  timeout connect 2s\n  timeout client 60s\n'
    printf '  timeout server 60s\n  retries 3\n  option redispatch\nfrontend clients\n'
    printf '  bind 127.0.0.1:%d\n  option forwardfor\n  default_backend gateways\nbackend gateways\n' "$TALLY_GATEWAY_PORT"
    printf '  balance roundrobin\n  option httpchk GET /readyz\n  http-check expect status 200\n'
    printf '  default-server inter 500ms fall 2 rise 2\n'
    for ((i = 1; i <= TALLY_GATEWAYS; i++)); do
      printf '  server gateway-%d 127.0.0.1:%d check\n' "$i" $((TALLY_GATEWAY_PORT + i))
    done
  } >"$state/haproxy.cfg"
}

args_of() {
  local common=(--brokers="$TALLY_BROKERS" --schemas="$TALLY_ROOT/schemas")
  local webhook_pub=   # without tally-webhooks built, the console answers the webhook routes 503
  [[ ! -s $state/webhook.pub ]] || webhook_pub=$state/webhook.pub
  case "$1" in
    gateway-*) echo "$(args_of gateway | sed "s/--port=$TALLY_GATEWAY_PORT /--port=$((TALLY_GATEWAY_PORT + ${1#gateway-})) /")" \
               --trusted-proxies=1 ;;
    haproxy) echo -db -f "$state/haproxy.cfg" ;;
    gateway) echo "${common[@]}" --port="$TALLY_GATEWAY_PORT" --catalog="$TALLY_ROOT/schemas/product-events.json" \
               --keys-pg-url="$TALLY_PG_GATEWAY_URL" --keys-refresh=2s --optout-file="$state/optout.txt" \
               --cors-origins=http://localhost:1337 --max-event-age=1600h --webhook-allow-http-loopback ;;
    anonymizer) echo "${common[@]}" --admin-port=$((TALLY_ADMIN_PORT_BASE + 1)) --key-file="$state/pseudonym.keys" \
               --catalog="$TALLY_ROOT/schemas/product-events.json" --instance-id=local-1 ;;
    aggregator) echo "${common[@]}" --admin-port=$((TALLY_ADMIN_PORT_BASE + 2)) --instance-id=local-1 ;;
    materializer) echo "${common[@]}" --admin-port=$((TALLY_ADMIN_PORT_BASE + 3)) --pg-url="$TALLY_PG_MATERIALIZER_URL" \
               --no-apply-migrations ;;
    notifier) echo "${common[@]}" --admin-port=$((TALLY_ADMIN_PORT_BASE + 5)) --instance-id=local-1 ;;
    webhooks) echo "${common[@]}" --admin-port=$((TALLY_ADMIN_PORT_BASE + 6)) --instance-id=local-1 \
               --webhook-keys="$state/webhook.keys" --webhook-allow-http-loopback \
               --vendor-url=http://127.0.0.1:$TALLY_WEBHOOK_LISTEN_PORT/alerts \
               --vendor-secret-file="$state/vendor-webhook.secret" ;;
    console) echo "${common[@]}" --port="$TALLY_CONSOLE_PORT" --pg-url="$TALLY_PG_READER_URL" --insecure-cookies \
               --license-keys="$state/license.keys" --gateway-url=http://127.0.0.1:$TALLY_GATEWAY_PORT \
               --webhook-allow-http-loopback ${webhook_pub:+--webhook-public-key="$webhook_pub"} ;;
  esac
}

pid_of() {
  local f=$state/$1.pid
  [[ -f $f ]] && kill -0 "$(cat "$f")" 2>/dev/null && cat "$f"
}

start_one() {
  local name=$1 exe=$bin/tally-${1%-[0-9]*}
  if [[ $name == haproxy ]]; then
    exe=$(command -v haproxy || echo /usr/sbin/haproxy)
    [[ -x $exe ]] || tally_die "pipeline: haproxy missing (TALLY_GATEWAYS=$TALLY_GATEWAYS deploy/setup.sh installs it)"
    haproxy_cfg
  fi
  [[ -x $exe ]] || { tally_log "pipeline: $exe not built, skipped"; return 0; }
  if pid_of "$name" >/dev/null; then return 0; fi
  local secret=(TALLY_ADMIN_TOKEN="$(cat "$state/admin-token")")
  [[ $name != console ]] || secret+=(TALLY_CONSOLE_STAFF_TOKEN="$(cat "$state/staff-token")")   # the console alone
  # shellcheck disable=SC2046
  env "${secret[@]}" setsid "$exe" $(args_of "$name") \
    </dev/null >>"$state/$name.log" 2>&1 &
  echo $! >"$state/$name.pid"
}

wait_ready() {
  local name=$1 url
  case "$name" in
    gateway|haproxy) url=http://127.0.0.1:$TALLY_GATEWAY_PORT/readyz ;;
    gateway-*) url=http://127.0.0.1:$((TALLY_GATEWAY_PORT + ${name#gateway-}))/readyz ;;
    anonymizer) url=http://127.0.0.1:$((TALLY_ADMIN_PORT_BASE + 1))/readyz ;;
    aggregator) url=http://127.0.0.1:$((TALLY_ADMIN_PORT_BASE + 2))/readyz ;;
    materializer) url=http://127.0.0.1:$((TALLY_ADMIN_PORT_BASE + 3))/readyz ;;
    console) url=http://127.0.0.1:$TALLY_CONSOLE_PORT/readyz ;;
    notifier) url=http://127.0.0.1:$((TALLY_ADMIN_PORT_BASE + 5))/readyz ;;
    webhooks) url=http://127.0.0.1:$((TALLY_ADMIN_PORT_BASE + 6))/readyz ;;
  esac
  [[ $name == haproxy || -x $bin/tally-${name%-[0-9]*} ]] || return 0
  for _ in $(seq 1 300); do
    curl -fsS -o /dev/null "$url" 2>/dev/null && return 0
    pid_of "$name" >/dev/null || { tail -n 20 "$state/$name.log" >&2; tally_die "pipeline: tally-$name exited"; }
    sleep 0.2
  done
  tail -n 20 "$state/$name.log" >&2
  tally_die "pipeline: tally-$name not ready after 60 s ($url)"
}

stop_one() {
  local name=$1 pid
  pid=$(pid_of "$name") || { rm -f "$state/$name.pid"; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$state/$name.pid"
}

case "${1:-}" in
  start)
    secrets
    for n in "${names[@]}"; do start_one "$n"; done
    for n in "${names[@]}"; do wait_ready "$n"; done
    tally_log "pipeline: running (logs in ${state#$TALLY_ROOT/})" ;;
  stop) for ((i = ${#names[@]} - 1; i >= 0; i--)); do stop_one "${names[$i]}"; done ;;
  status)
    rc=0
    for n in "${names[@]}"; do
      if pid=$(pid_of "$n"); then echo "tally-$n: running (pid $pid)"; else echo "tally-$n: stopped"; rc=1; fi
    done
    exit $rc ;;
  restart) secrets; stop_one "$2"; start_one "$2"; wait_ready "$2" ;;
  kill) pid=$(pid_of "$2") && kill -KILL "$pid"; rm -f "$state/$2.pid" ;;
  logs) tail -n "${3:-50}" "$state/$2.log" ;;
  admin-token) secrets; cat "$state/admin-token" ;;
  staff-token) secrets; cat "$state/staff-token" ;;
  *) echo "usage: $0 start|stop|status|restart NAME|kill NAME|logs NAME [LINES]|admin-token|staff-token" >&2; exit 2 ;;
esac
