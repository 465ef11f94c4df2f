#!/usr/bin/env bash
# Simulates last calendar month of three customers through the running local
# pipeline with the `tally` client, waits until every number it prints has
# landed in PostgreSQL (at most TALLY_SIMULATE_WAIT seconds, default 180;
# exit 1 naming what is missing), prints the Control Panel's views as the
# Control Panel reads them (role tally_reader), and checks them against what
# was sent (exit 1 on any difference).
#
#   acme     well within its license
#   initech  close to its limits (warning)
#   globex   over its monthly API calls, its non-production daily calls and
#            its seats
#
# Everything sent is deterministic (event ids, reporter ids, times), so a
# second run sends the same records and the numbers do not change.
#   simulate.sh [--short]   --short: fewer product events (CI)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

short=0
[[ ${1:-} == --short ]] && short=1
state=$TALLY_STATE/pipeline
sim=$TALLY_STATE/simulate
rm -rf "$sim"
mkdir -p "$sim"
export TALLY_CONFIG_DIR=$sim/config TALLY_STATE_DIR=$sim/client TALLY_TELEMETRY=1
unset DO_NOT_TRACK
tally=("$TALLY_BUILD_DIR/bin/tally" --gateway="http://127.0.0.1:${TALLY_GATEWAY_PORT:-8080}")
admin_token=$(cat "$state/admin-token")
wait_s=${TALLY_SIMULATE_WAIT:-180}
# The Control Panel's views, read as the Control Panel does; the superuser
# only for the operator check on a table (nothing leaked).
view_q() { deploy/local/postgres.sh psql-as tally_reader -tA -c "$1"; }
view_show() { deploy/local/postgres.sh psql-as tally_reader -c "$1"; }
table_q() { deploy/local/postgres.sh psql -tA -c "$1"; }

# Last calendar month, UTC.
month_start=$(date -u -d "$(date -u +%Y-%m-01) -1 month" +%Y-%m-%d)
days=$(( ( $(date -u -d "$(date -u +%Y-%m-01)" +%s) - $(date -u -d "$month_start" +%s) ) / 86400 ))
t0=$(( $(date -u -d "$month_start" +%s) * 1000 ))
valid_until=$(date -u -d "$month_start +1 year -1 day" +%Y-%m-%d)
day_ms=86400000

uuid() { local h; h=$(printf '%s' "$1" | md5sum); echo "${h:0:8}-${h:8:4}-4${h:13:3}-a${h:17:3}-${h:20:12}"; }
key_of() { printf 'tk_local_%s' "$(printf 'key %s' "$1" | md5sum | cut -c1-32)"; }
sha256() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }

# tenant  name                 seats_max  monthly_max  daily_nonprod_max
tenants=(
  "acme     Acme_Corporation     10   1000000  5000"
  "initech  Initech              20    200000  1000"
  "globex   Globex_Corporation    5    500000  5000"
)
# tenant  environment  kind         reporters  calls_a_day_each  restart_day
environments=(
  "acme     acme-prod     production   2  10000 15"
  "acme     acme-staging  staging      1   2000  0"
  "initech  initech-prod  production   2   2800  0"
  "initech  initech-dev   development  1    100  0"
  "globex   globex-prod   production   2   9000 10"
  "globex   globex-stage  staging      1   6000  0"
)
# tenant  day  op        users (seat changes; day 1 is the month's first)
seats=(
  "acme     1  ASSIGNED  u1 u2 u3 u4"
  "acme    10  ASSIGNED  u5 u6"
  "acme    20  RELEASED  u2"
  "initech  1  ASSIGNED  u1 u2 u3 u4 u5 u6 u7 u8 u9 u10 u11 u12"
  "initech  8  ASSIGNED  u13 u14 u15 u16 u17"
  "initech 15  RELEASED  u3 u4 u5"
  "globex   1  ASSIGNED  u1 u2 u3 u4"
  "globex   5  ASSIGNED  u5 u6 u7"
)
declare -A expect_calls expect_peak expect_nonprod expect_status

tally_log "simulate: $month_start, $days days, ${#tenants[@]} tenants"

# 1. Control Panel: tenants, environments, members, license terms, API keys.
cp=$sim/controlpanel.ndjson
: >"$cp"
cp_event() { # tenant day payload
  printf '{"event_id":"%s","tenant_id":"%s","occurred_at":%d,"payload":%s}\n' \
    "$(uuid "cp $1 $3")" "$1" $(( t0 + ($2 - 1) * day_ms + 3600000 )) "$3" >>"$cp"
}
for row in "${tenants[@]}"; do
  read -r t name seats_max monthly daily <<<"$row"
  cp_event "$t" 1 "{\"TenantRegistered\":{\"name\":\"${name//_/ }\"}}"
  cp_event "$t" 1 "{\"MemberAdded\":{\"member_id\":\"$t-owner\",\"first_name\":\"Dana\",\"last_name\":\"Owner\",\"email\":\"owner@$t.example\",\"role\":\"owner\"}}"
  cp_event "$t" 1 "{\"MemberAdded\":{\"member_id\":\"$t-dev\",\"first_name\":\"Sam\",\"last_name\":\"Developer\",\"email\":\"dev@$t.example\",\"role\":\"developer\"}}"
  cp_event "$t" 1 "{\"LicenseTermsSet\":{\"seats_max\":$seats_max,\"monthly_api_calls_max\":$monthly,\"daily_api_calls_max_nonprod\":$daily,\"features\":[\"sso\",\"audit-log\"],\"valid_from\":\"$month_start\",\"valid_until\":\"$valid_until\"}}"
  expect_calls[$t]=0; expect_nonprod[$t]=0
done
for row in "${environments[@]}"; do
  read -r t env kind reporters calls restart <<<"$row"
  cp_event "$t" 1 "{\"EnvironmentCreated\":{\"environment_id\":\"$env\",\"name\":\"$env\",\"kind\":\"$kind\",\"owner\":\"$t-owner\"}}"
  cp_event "$t" 1 "{\"ApiKeyIssued\":{\"key_id\":\"key-$env\",\"environment_id\":\"$env\",\"key_sha256\":\"$(sha256 "$(key_of "$env")")\"}}"
done
"${tally[@]}" send controlpanel --admin-token="$admin_token" <"$cp" >/dev/null
tally_log "simulate: $(wc -l <"$cp") Control Panel events sent"

# The gateway learns the new API keys from PostgreSQL (materialized from the
# events above, read through the view tally.gateway_keys, which also needs
# the tenant and the environment, as the gateway's role sees it) within its
# refresh interval.
env_ids=$(for row in "${environments[@]}"; do read -r _ e _ <<<"$row"; printf "'%s'," "$e"; done)
for _ in $(seq 1 150); do
  [[ $(deploy/local/postgres.sh psql-as tally_gateway -tA -c "select count(*) from tally.gateway_keys where environment_id in (${env_ids%,})") -ge ${#environments[@]} ]] && break
  sleep 0.2
done
sleep 3
# Whoever runs the simulation may act once the tenants exist and before any
# usage is sent (up.sh: Globex's alert rules and webhook, alerts_demo.sh).
if [[ -n ${TALLY_SIMULATE_BEFORE_USAGE:-} ]]; then $TALLY_SIMULATE_BEFORE_USAGE; fi

# 2. Usage: every reporter reports its cumulative counters once a day, day
# by day as live API processes would (one request per environment a day).
declare -A cum seq started gen last_c
reports=0
for ((d = 1; d <= days; d++)); do
  for row in "${environments[@]}"; do
    read -r t env kind reporters calls restart <<<"$row"
    batch=()
    for ((r = 1; r <= reporters; r++)); do
      id=$env.$r
      if [[ $d -eq 1 ]]; then gen[$id]=1; started[$id]=$t0; cum[$id]=0; seq[$id]=0; fi
      if [[ $restart -gt 0 && $r -eq 1 && $d -eq $restart ]]; then
        # The API process restarted: a new reporter id, counters from zero.
        gen[$id]=2; started[$id]=$(( t0 + (d - 1) * day_ms )); cum[$id]=0; seq[$id]=0
      fi
      cum[$id]=$(( ${cum[$id]} + calls )); seq[$id]=$(( ${seq[$id]} + 1 )); c=${cum[$id]}
      last_c["$env $r ${gen[$id]}"]=$c
      batch+=("$(printf '{"tenant_id":"%s","environment_id":"%s","reporter_id":"%s","reporter_started_at":%d,"seq":%d,"observed_at":%d,"api_calls":%d,"status_4xx":%d,"status_5xx":%d,"exec_ms":%d}' \
        "$t" "$env" "$(uuid "reporter $env $r ${gen[$id]}")" "${started[$id]}" "${seq[$id]}" \
        $(( t0 + (d - 1) * day_ms + 43200000 + r * 1000 )) "$c" $(( c / 100 )) $(( c / 1000 )) $(( c * 12 )))")
    done
    "${tally[@]}" send usage --api-key="$(key_of "$env")" "${batch[@]}" >/dev/null
    reports=$(( reports + reporters ))
    if [[ $d -eq 1 ]]; then
      expect_calls[$t]=$(( ${expect_calls[$t]} + reporters * calls * days ))
      if [[ $kind != production && $calls -gt ${expect_nonprod[$t]} ]]; then expect_nonprod[$t]=$calls; fi
    fi
  done
done
tally_log "simulate: $reports usage reports sent"
# Monthly usage per environment: each reporter generation adds its last
# cumulative counters (4xx and 5xx are c/100 and c/1000 of them).
want_usage=$(for row in "${environments[@]}"; do
  read -r t env _ <<<"$row"
  calls=0 s4=0 s5=0
  for k in "${!last_c[@]}"; do
    [[ ${k%% *} == "$env" ]] || continue
    c=${last_c[$k]}; calls=$(( calls + c )); s4=$(( s4 + c / 100 )); s5=$(( s5 + c / 1000 ))
  done
  echo "$env $calls $s4 $s5 $days"
done | LC_ALL=C sort | paste -sd, -)

# 3. Seats.
declare -A in_use peak
for row in "${seats[@]}"; do
  read -r t d op users <<<"$row"
  out=$sim/seats-$t.ndjson
  for u in $users; do
    printf '{"event_id":"%s","tenant_id":"%s","user_id":"%s@%s.example","op":"%s","occurred_at":%d}\n' \
      "$(uuid "seat $t $d $op $u")" "$t" "$u" "$t" "$op" $(( t0 + (d - 1) * day_ms + 36000000 )) >>"$out"
    if [[ $op == ASSIGNED ]]; then in_use[$t]=$(( ${in_use[$t]:-0} + 1 )); else in_use[$t]=$(( ${in_use[$t]:-0} - 1 )); fi
    [[ ${in_use[$t]} -gt ${peak[$t]:-0} ]] && peak[$t]=${in_use[$t]}
  done
done
for row in "${tenants[@]}"; do
  read -r t _ <<<"$row"
  env=$(for e in "${environments[@]}"; do read -r et ee _ <<<"$e"; [[ $et == "$t" ]] && { echo "$ee"; break; }; done)
  "${tally[@]}" send seat --api-key="$(key_of "$env")" <"$sim/seats-$t.ndjson" >/dev/null
  expect_peak[$t]=${peak[$t]}
done
tally_log "simulate: seat changes sent"

# 4. Product analytics from the CLI and the Admin app of many installations.
installs=$(( short ? 20 : 200 ))
out=$sim/product.ndjson
: >"$out"
versions=(5.1.0 5.2.0 5.2.1)
declare -A product_n   # "event source" -> events sent (each install sends each event once)
for ((i = 1; i <= installs; i++)); do
  d=$(( (i * 7) % days + 1 )); v=${versions[$(( i % 3 ))]}; at=$(( t0 + (d - 1) * day_ms + i * 60000 ))
  p="{\"template\":\"blog\",\"language\":\"typescript\",\"package_manager\":\"npm\",\"database\":\"postgres\"}"
  printf '{"event_id":"%s","source":"CLI","event":"project.create.start","occurred_at":%d,"install_id":"install-%d","version":"%s","ci":false,"properties":%s}\n' \
    "$(uuid "p1 $i")" "$at" "$i" "$v" "$p" >>"$out"
  product_n["project.create.start CLI"]=$(( ${product_n["project.create.start CLI"]:-0} + 1 ))
  if (( i % 10 == 0 )); then
    printf '{"event_id":"%s","source":"CLI","event":"project.create.error","occurred_at":%d,"install_id":"install-%d","version":"%s","error":{"message":"EACCES: permission denied, mkdir /home/jdoe/my-blog (token=ghp_%s)"},"properties":{"step":"install"}}\n' \
      "$(uuid "p2 $i")" $(( at + 5000 )) "$i" "$v" "0123456789abcdefghijABCDEFGHIJ012345" >>"$out"
    product_n["project.create.error CLI"]=$(( ${product_n["project.create.error CLI"]:-0} + 1 ))
  else
    printf '{"event_id":"%s","source":"CLI","event":"project.create.end","occurred_at":%d,"install_id":"install-%d","project_id":"project-%d","version":"%s","properties":{"template":"blog","duration_ms":"%d"}}\n' \
      "$(uuid "p3 $i")" $(( at + 90000 )) "$i" "$i" "$v" $(( 40000 + i * 13 )) >>"$out"
    printf '{"event_id":"%s","source":"ADMIN","event":"admin.started","occurred_at":%d,"install_id":"admin-%d","project_id":"project-%d","version":"%s","properties":{"locale":"en","plugins_count":"%d"}}\n' \
      "$(uuid "p4 $i")" $(( at + 300000 )) "$i" "$i" "$v" $(( i % 9 )) >>"$out"
    product_n["project.create.end CLI"]=$(( ${product_n["project.create.end CLI"]:-0} + 1 ))
    product_n["admin.started ADMIN"]=$(( ${product_n["admin.started ADMIN"]:-0} + 1 ))
  fi
  if (( i % 4 == 0 )); then
    printf '{"event_id":"%s","source":"CLI","event":"deploy.start","occurred_at":%d,"install_id":"install-%d","project_id":"project-%d","version":"%s","ci":true,"properties":{"environment_kind":"production","region":"eu-west"}}\n' \
      "$(uuid "p5 $i")" $(( at + day_ms )) "$i" "$i" "$v" >>"$out"
    product_n["deploy.start CLI"]=$(( ${product_n["deploy.start CLI"]:-0} + 1 ))
  fi
done
split -l 400 "$out" "$sim/product-part-"
for part in "$sim"/product-part-*; do "${tally[@]}" send product <"$part" >/dev/null; done
tally_log "simulate: $(wc -l <"$out") product events sent"
# Product analytics over all days (a superset of the days printed): events
# and distinct installs per event and source.
want_product=$(for k in "${!product_n[@]}"; do echo "$k ${product_n[$k]} ${product_n[$k]}"; done | LC_ALL=C sort |
  paste -sd, -)

# 5. Wait until the pipeline has landed every number printed below: usage,
# seats, Control Panel projection and product events travel in their own
# records and transactions, so any one may land after the others.
tally_log "simulate: waiting for the numbers to land in PostgreSQL (at most $wait_s s)"
expect_status[acme]=ok; expect_status[initech]=warning; expect_status[globex]=over
want_compliance=$(for row in "${tenants[@]}"; do
  read -r t _ <<<"$row"
  echo "$t ${expect_calls[$t]} ${expect_nonprod[$t]} ${expect_peak[$t]} ${expect_status[$t]}"
done | LC_ALL=C sort | paste -sd, -)
sim_versions="'${versions[0]}', '${versions[1]}', '${versions[2]}'"
got_compliance() {
  view_q "select string_agg(tenant_id || ' ' || api_calls_month_peak || ' ' || nonprod_day_peak || ' ' || seats_peak || ' ' || status, ',' order by tenant_id collate \"C\") from tally.compliance where valid_from = '$month_start'"
}
got_usage() {
  view_q "select string_agg(concat_ws(' ', environment_id, api_calls, status_4xx, status_5xx, days_reported), ',' order by environment_id collate \"C\") from tally.monthly_usage where month = '$month_start' and tenant_id in ('acme', 'initech', 'globex')"
}
got_product() {
  view_q "select string_agg(concat_ws(' ', event, source, e, i), ',' order by event collate \"C\", source collate \"C\") from (select event, source, sum(events) as e, sum(installs) as i from tally.product_analytics_daily where version in ($sim_versions) group by event, source) x"
}
deadline=$(( SECONDS + wait_s ))
while :; do
  have_compliance=$(got_compliance) have_usage=$(got_usage) have_product=$(got_product)
  [[ $have_compliance == "$want_compliance" && $have_usage == "$want_usage" && $have_product == "$want_product" ]] && break
  if (( SECONDS >= deadline )); then
    echo "simulate: the numbers did not land within $wait_s s (TALLY_SIMULATE_WAIT); what differs:" >&2
    [[ $have_compliance == "$want_compliance" ]] || printf '  compliance:  got "%s"\n               want "%s"\n' "$have_compliance" "$want_compliance" >&2
    [[ $have_usage == "$want_usage" ]] || printf '  monthly usage:  got "%s"\n                  want "%s"\n' "$have_usage" "$want_usage" >&2
    [[ $have_product == "$want_product" ]] || printf '  product analytics:  got "%s"\n                      want "%s"\n' "$have_product" "$want_product" >&2
    echo "  logs: ${state#$TALLY_ROOT/}/*.log (deploy/local/pipeline.sh status)" >&2
    exit 1
  fi
  sleep 1
done
echo
echo "Compliance, contract period from $month_start (what the Control Panel shows):"
view_show "select tenant_name as tenant, api_calls_month_peak as api_calls_month, monthly_api_calls_max as monthly_max, monthly_api_calls_status as calls, nonprod_day_peak as nonprod_day_peak, daily_api_calls_max_nonprod as nonprod_daily_max, nonprod_daily_status as nonprod, seats_peak, seats_max, seats_status as seats, status from tally.compliance where valid_from = '$month_start' order by tenant_id"
echo "Monthly usage per environment:"
view_show "select tenant_id as tenant, environment_name as environment, environment_kind as kind, api_calls, status_4xx, status_5xx, days_reported from tally.monthly_usage where month = '$month_start' order by tenant_id, environment_id"
echo "Product analytics, daily (first week of the month):"
view_show "select day, event, source, version, events, installs from tally.product_analytics_daily where day >= '$month_start' and day < date '$month_start' + 7 order by day, event, version"
echo "Product analytics, the month:"
view_show "select event, source, sum(events) as events from tally.product_analytics_daily where day >= '$month_start' and day < date '$month_start' + interval '1 month' group by event, source order by events desc"

# 6. Check every figure against what was sent.
fails=0
for row in "${tenants[@]}"; do
  read -r t _ <<<"$row"
  got=$(view_q "select api_calls_month_peak || ' ' || nonprod_day_peak || ' ' || seats_peak || ' ' || status from tally.compliance where tenant_id = '$t' and valid_from = '$month_start'")
  want="${expect_calls[$t]} ${expect_nonprod[$t]} ${expect_peak[$t]} ${expect_status[$t]}"
  if [[ $got == "$want" ]]; then
    echo "check $t: api calls, non-production daily peak, seats peak, status = $got (as sent)"
  else
    echo "check $t: FAILED: got '$got', sent '$want'"; fails=$((fails + 1))
  fi
done
got=$(got_usage)
if [[ $got == "$want_usage" ]]; then
  echo "check usage per environment: api calls, 4xx, 5xx, days reported = $got (as sent)"
else
  echo "check usage per environment: FAILED: got '$got', sent '$want_usage'"; fails=$((fails + 1))
fi
got=$(got_product)
if [[ $got == "$want_product" ]]; then
  echo "check product analytics: events and installs per event = $got (as sent)"
else
  echo "check product analytics: FAILED: got '$got', sent '$want_product'"; fails=$((fails + 1))
fi
leaks=$(table_q "select count(*) from tally.product_events where coalesce(error_message, '') ~ '(jdoe|ghp_)'" 2>/dev/null || echo "?")
echo "check privacy: product events whose stored error still names the user or the token: $leaks"
[[ $leaks == 0 ]] || fails=$((fails + 1))
[[ $fails -eq 0 ]] || { echo "simulate: $fails check(s) failed"; exit 1; }
