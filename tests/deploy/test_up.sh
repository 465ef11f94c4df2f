#!/usr/bin/env bash
# The main job as CI runs it: deploy/local/up.sh in short mode, on a stack
# of its own (state folder, ports) so that no data of the developer's stack
# or of other suites is counted. Its simulated month must land in the
# Control Panel's compliance view with exactly the numbers that were sent,
# and a second run must not change them (everything sent is idempotent).
# The sign-in links it prints at the end must work: each member's link
# signs in (303 to the tenant's overview, a session cookie HttpOnly and
# SameSite=Strict), Globex's overview shows it over its license, a member of
# one tenant gets 404 for another's page, the staff link opens the vendor's
# tenants page. It also issues a personal-dev license for acme's owner and
# verifies it offline: the file must verify here too, and tally.licenses
# must hold it. Globex's webhook (tally webhook-listen, set through the
# console) receives the TRIGGERED alerts of 80 % and 100 % of its monthly
# API calls once each, signatures verified; the second run receives none.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
export TALLY_STATE
TALLY_STATE=$(mktemp -d /tmp/tally-up-test.XXXXXX)
chmod 755 "$TALLY_STATE"
# Every port below the kernel's ephemeral range (32768-60999): a busy
# machine's outgoing connections can hold any port inside it for a moment.
export TALLY_BROKERS=127.0.0.1:29192 TALLY_PG_PORT=25498 TALLY_GATEWAY_PORT=18181 TALLY_ADMIN_PORT_BASE=19200
export TALLY_CONSOLE_PORT=18190 TALLY_WEBHOOK_LISTEN_PORT=18195 TALLY_ALERTS_LISTEN_PORT=18196
# Every URL follows the port above (run.sh exported the suites' own).
unset TALLY_PG_URL TALLY_PG_MATERIALIZER_URL TALLY_PG_GATEWAY_URL TALLY_PG_READER_URL
source deploy/local/env.sh
fails=0
out=$(mktemp)
trap 'rm -f "$out"; deploy/local/down.sh --wipe >/dev/null 2>&1; rm -rf "$TALLY_STATE"' EXIT

# The console's links as up.sh printed them (in $out), followed with curl
# as a browser would: sign in, keep the cookie, open the pages.
check_console_links() {
  local run=$1 jar line link t got cookie_line
  local console=http://127.0.0.1:$TALLY_CONSOLE_PORT
  jar=$(mktemp -d)
  for t in globex acme initech; do
    link=$(grep -o "^    $t  *$console/signin?token=tct_[A-Za-z0-9_-]*\$" "$out" | awk '{print $2}' | head -n1)
    [[ -n $link ]] || { echo "FAIL run $run: up.sh printed no sign-in link for $t"; fails=$((fails + 1)); continue; }
    got=$(curl -sS -o /dev/null -D "$jar/$t.headers" -c "$jar/$t" -w '%{http_code} %{redirect_url}' "$link")
    if [[ $got == "303 $console/t/$t/" ]]; then echo "ok   run $run: $t's sign-in link answers 303 to /t/$t/"
    else echo "FAIL run $run: $t's sign-in link answered '$got', wanted '303 $console/t/$t/'"; fails=$((fails + 1)); fi
    cookie_line=$(grep -i '^set-cookie: tally_session=' "$jar/$t.headers" | tr -d '\r')
    if [[ $cookie_line == *HttpOnly* && $cookie_line == *SameSite=Strict* && $cookie_line != *Secure* ]]; then
      echo "ok   run $run: $t's session cookie is HttpOnly, SameSite=Strict (no Secure: --insecure-cookies locally)"
    else echo "FAIL run $run: $t's session cookie: '${cookie_line:-none}'"; fails=$((fails + 1)); fi
  done
  # The first thing a new user sees: Globex's overview, over its license.
  got=$(curl -sS -b "$jar/globex" -w '\n%{http_code}' "$console/t/globex/")
  if [[ ${got##*$'\n'} == 200 && $got == *Globex* && $got =~ [^a-z]over[^a-z] ]]; then
    echo "ok   run $run: Globex's overview (200) shows it over its license"
  else echo "FAIL run $run: Globex's overview: status ${got##*$'\n'}, 'Globex' and 'over' wanted in the page"; fails=$((fails + 1)); fi
  # acme's member sees nothing of globex: the 404 of an unknown route.
  local a b
  a=$(curl -sS -b "$jar/acme" -o "$jar/a.html" -w '%{http_code}' "$console/t/globex/")
  b=$(curl -sS -b "$jar/acme" -o "$jar/b.html" -w '%{http_code}' "$console/no/such/route")
  if [[ $a == 404 && $b == 404 ]] && cmp -s "$jar/a.html" "$jar/b.html"; then
    echo "ok   run $run: acme's member gets the unknown route's 404 for Globex's overview"
  else echo "FAIL run $run: acme's member on /t/globex/: $a (unknown route: $b, same body: $(cmp -s "$jar/a.html" "$jar/b.html" && echo yes || echo no))"; fails=$((fails + 1)); fi
  link=$(grep -o "^    staff  *$console/signin?token=[^ ]*\$" "$out" | awk '{print $2}' | head -n1)
  got=$(curl -sS -o /dev/null -c "$jar/staff" -w '%{http_code} %{redirect_url}' "$link")
  local page
  page=$(curl -sS -b "$jar/staff" -w '\n%{http_code}' "$console/vendor/tenants")
  if [[ $got == "303 $console/vendor/tenants" && ${page##*$'\n'} == 200 && $page == *Globex* && $page == *Initech* && $page == *Acme* ]]; then
    echo "ok   run $run: the staff link signs in; the vendor's tenants page lists all three tenants"
  else echo "FAIL run $run: staff link answered '$got', tenants page status ${page##*$'\n'}"; fails=$((fails + 1)); fi
  rm -rf "$jar"
}

# The demo license: up.sh prints both steps (fetch, then the offline
# verify's "valid:" line); the file it left verifies here too, with the
# console's published keys; and tally.licenses holds exactly one license
# of acme's owner after both runs: the second run (same month, same
# idempotency key) gets the first run's license back, byte for byte.
check_license() {
  local run=$1 file=$TALLY_STATE/licenses/acme-owner.license pub rows
  if grep -q 'license: tally license fetch' "$out" && grep -q '^valid: license .*personal-dev, tenant acme, member acme-owner' "$out"; then
    echo "ok   run $run: up.sh prints the license fetch and its offline verify (valid)"
  else echo "FAIL run $run: up.sh did not print the license fetch and a valid verify"; fails=$((fails + 1)); fi
  pub=$(mktemp)
  curl -fsS "http://127.0.0.1:$TALLY_CONSOLE_PORT/api/v1/licenses/keys?format=pub" -o "$pub"
  if "$TALLY_BUILD_DIR/bin/tally" license verify "$file" --public-key="$pub" >/dev/null 2>&1; then
    echo "ok   run $run: the license up.sh saved verifies offline with the console's public keys"
  else echo "FAIL run $run: $file does not verify"; fails=$((fails + 1)); fi
  # One byte changed: refused (exit 1), so the verify above is not a rubber stamp.
  sed '2s/^./x/' "$file" >"$pub.tampered"
  "$TALLY_BUILD_DIR/bin/tally" license verify "$pub.tampered" --public-key="$pub" >/dev/null 2>&1
  [[ $? -eq 1 ]] && echo "ok   run $run: the same license with one byte changed is refused (exit 1)" ||
    { echo "FAIL run $run: a tampered license was not refused with exit 1"; fails=$((fails + 1)); }
  rm -f "$pub" "$pub.tampered"
  rows=$(deploy/local/postgres.sh psql -tA -c "select count(*) from tally.licenses where tenant_id = 'acme' and member_id = 'acme-owner' and kind = 'personal_dev'")
  [[ $rows == 1 ]] && echo "ok   run $run: tally.licenses holds the one personal-dev license of acme-owner" ||
    { echo "FAIL run $run: tally.licenses holds ${rows:-?} licenses of acme-owner, wanted 1"; fails=$((fails + 1)); }
  if [[ $run == 1 ]]; then cp "$file" "$TALLY_STATE/run1.license"
  elif cmp -s "$file" "$TALLY_STATE/run1.license"; then echo "ok   run $run: up.sh got the first run's license back, byte for byte"
  else echo "FAIL run $run: the second run's license differs from the first's"; fails=$((fails + 1)); fi
}

# Globex's usage alerts: up.sh prints the sequence its webhook received
# (tally webhook-listen, which prints a webhook only when its signature
# verifies): the TRIGGERED alerts of 80 % and 100 % of the monthly API
# calls, once each, in that order. The second run receives nothing new.
alerts=$TALLY_STATE/alerts
check_alerts() {
  local run=$1 w n l80 l100 section
  # What up.sh printed under Globex's heading (the vendor's follows it).
  section=$(awk '/^Usage alerts received by Globex/ {f = 1; print; next} f && /^  / {print; next} {f = 0}' "$out")
  echo "$section" | sed "s/^/     run $run: /"
  for w in 80 100; do
    n=$(grep -c "^  ALERT TRIGGERED tenant=globex metric=MONTHLY_API_CALLS threshold=$w% " <<<"$section")
    [[ $n == 1 ]] && echo "ok   run $run: up.sh printed Globex's $w % alert once" ||
      { echo "FAIL run $run: up.sh printed Globex's $w % alert $n times"; fails=$((fails + 1)); }
    n=$(grep -c "^ALERT TRIGGERED tenant=globex metric=MONTHLY_API_CALLS threshold=$w% " "$alerts/globex.out")
    [[ $n == 1 ]] && echo "ok   run $run: Globex's webhook received the $w % alert once" ||
      { echo "FAIL run $run: Globex's webhook received the $w % alert $n times"; fails=$((fails + 1)); }
  done
  l80=$(grep -n "threshold=80% " "$alerts/globex.out" | head -n1 | cut -d: -f1)
  l100=$(grep -n "threshold=100% " "$alerts/globex.out" | head -n1 | cut -d: -f1)
  n=$(grep -c "^  ALERT TRIGGERED tenant=globex metric=MONTHLY_API_CALLS " "$out")
  [[ $n == 4 ]] && echo "ok   run $run: the vendor's webhook received both alerts too" ||
    { echo "FAIL run $run: up.sh printed $n monthly alerts of Globex in all, wanted 4 (Globex's and the vendor's)"; fails=$((fails + 1)); }
  [[ -n $l80 && -n $l100 && $l80 -lt $l100 ]] && echo "ok   run $run: 80 % came before 100 %" ||
    { echo "FAIL run $run: the order of the alerts (80 % at line ${l80:-?}, 100 % at ${l100:-?})"; fails=$((fails + 1)); }
  grep -q "^The console lists them too (.*): 2 of 2$" "$out" && echo "ok   run $run: the console lists both alerts (GET /api/v1/alerts)" ||
    { echo "FAIL run $run: up.sh did not say the console lists both alerts"; fails=$((fails + 1)); }
  n=$(grep -vc "tenant=globex " "$alerts/globex.out")
  [[ $n == 0 ]] && echo "ok   run $run: Globex's webhook received no other tenant's alert" ||
    { echo "FAIL run $run: Globex's webhook received $n other lines"; fails=$((fails + 1)); }
  if [[ $run == 1 ]]; then cp "$alerts/globex.out" "$TALLY_STATE/run1.alerts"
  elif cmp -s "$alerts/globex.out" "$TALLY_STATE/run1.alerts"; then echo "ok   run $run: the second run received no alert"
  else echo "FAIL run $run: the second run received more:"; diff "$TALLY_STATE/run1.alerts" "$alerts/globex.out"; fails=$((fails + 1)); fi
}

for run in 1 2; do
  if TALLY_UP_SHORT=1 deploy/local/up.sh >"$out" 2>&1; then
    echo "ok   up.sh run $run exits 0"
  else
    echo "FAIL up.sh run $run failed:"; tail -40 "$out"; fails=$((fails + 1)); continue
  fi
  for t in acme initech globex; do
    line=$(grep "^check $t:" "$out")
    [[ $line == *"(as sent)" ]] && echo "ok   run $run: $line" || { echo "FAIL run $run: ${line:-no check line for $t}"; fails=$((fails + 1)); }
  done
  grep -q '^ Globex Corporation .*| over *$' "$out" && echo "ok   run $run: the compliance view shows Globex over its license" ||
    { echo "FAIL run $run: compliance view lacks Globex over"; fails=$((fails + 1)); }
  grep -q 'privacy: .*: 0$' "$out" && echo "ok   run $run: no user name or token survives in stored errors" ||
    { echo "FAIL run $run: privacy check"; fails=$((fails + 1)); }
  # Every figure up.sh prints has landed before it prints, on the first run
  # too: usage per environment and product analytics, not only compliance.
  for what in "usage per environment" "product analytics"; do
    line=$(grep "^check $what:" "$out")
    [[ $line == *"(as sent)" ]] && echo "ok   run $run: $line" || { echo "FAIL run $run: ${line:-no check line for $what}"; fails=$((fails + 1)); }
  done
  for section in "Monthly usage per environment:|6" "Product analytics, daily (first week of the month):|1" \
                 "Product analytics, the month:|5"; do
    title=${section%|*} least=${section##*|}
    rows=$(awk -v t="$title" '$0 == t {f = 1} f && /^\([0-9]+ rows?\)$/ {print substr($1, 2); exit}' "$out")
    [[ ${rows:-0} -ge $least ]] && echo "ok   run $run: '$title' shows $rows rows" ||
      { echo "FAIL run $run: '$title' shows ${rows:-no} rows, wanted $least or more"; fails=$((fails + 1)); }
  done
  check_console_links "$run"
  check_license "$run"
  check_alerts "$run"
done
# Globex's listener verifies what it prints: a webhook with a forged
# signature is refused (401) and printed nowhere; stopped, it reports every
# alert it printed, no duplicate delivery and the one refusal.
code=$(curl -sS -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' -H 'webhook-id: msg_forged' \
  -H "webhook-timestamp: $(date +%s)" -H "webhook-signature: v1,$(printf 'forged signature of 32 bytes....' | base64 -w0)" \
  --data '{"type":"usage.alert","tenant_id":"globex"}' "http://127.0.0.1:$TALLY_ALERTS_LISTEN_PORT/globex")
[[ $code == 401 ]] && echo "ok   a forged webhook is refused by Globex's listener (401)" ||
  { echo "FAIL a forged webhook: $code, wanted 401"; fails=$((fails + 1)); }
deploy/local/alerts_demo.sh stop
want="$(wc -l <"$alerts/globex.out") printed, 0 duplicates, 1 refused"
if grep -q "msg_forged" "$alerts/globex.out"; then echo "FAIL the forged webhook was printed"; fails=$((fails + 1))
elif grep -q "webhook-listen: $want$" "$alerts/globex.log"; then echo "ok   Globex's listener: $want"
else echo "FAIL Globex's listener: $(tail -n1 "$alerts/globex.log"), wanted $want"; fails=$((fails + 1)); fi

audit=$("$TALLY_BUILD_DIR/bin/tally-replay" audit --brokers="$TALLY_BROKERS" --pg-url="$TALLY_PG_URL" 2>&1)
[[ $? -eq 0 && $audit == *"RESULT: identical"* ]] && echo "ok   tally-replay audit: the read model equals the log" ||
  { echo "FAIL audit:"; echo "$audit" | tail -20; fails=$((fails + 1)); }

# With the gateway down the client spools; when it is back, a flush (twice)
# delivers each event exactly once into the Postgres totals.
client=$(mktemp -d)
export TALLY_CONFIG_DIR=$client/config TALLY_STATE_DIR=$client/state TALLY_TELEMETRY=1
unset DO_NOT_TRACK
tally=("$TALLY_BUILD_DIR/bin/tally" --gateway="http://127.0.0.1:${TALLY_GATEWAY_PORT:-8080}")
now=$(( $(date +%s) * 1000 ))
ids=()
events=()
for i in 1 2 3 4 5; do
  ids+=("5b5b5b5b-0000-4000-8000-00000000000$i")
  events+=("{\"event_id\":\"${ids[-1]}\",\"event\":\"deploy.end\",\"occurred_at\":$now,\"install_id\":\"spool-test\",\"version\":\"9.9.9-spooltest\",\"properties\":{\"region\":\"eu\"}}")
done
deploy/local/pipeline.sh kill gateway
"${tally[@]}" send product "${events[@]}" >/dev/null 2>&1
rc=$?
[[ $rc -eq 5 ]] && echo "ok   gateway down: the client spools (exit 5)" || { echo "FAIL gateway down: exit $rc, wanted 5"; fails=$((fails + 1)); }
deploy/local/pipeline.sh restart gateway >/dev/null
"${tally[@]}" flush >/dev/null 2>&1 && "${tally[@]}" flush >/dev/null 2>&1 &&
  echo "ok   gateway back: tally flush delivers" || { echo "FAIL flush"; fails=$((fails + 1)); }
q="select coalesce(sum(events), 0) from tally.product_analytics_daily where version = '9.9.9-spooltest' and event = 'deploy.end'"
for _ in $(seq 1 120); do
  [[ $(deploy/local/postgres.sh psql -tA -c "$q") -ge 5 ]] && break
  sleep 0.5
done
sleep 3   # anything counted twice would land by now
got=$(deploy/local/postgres.sh psql -tA -c "$q")
[[ $got == 5 ]] && echo "ok   the 5 spooled events count exactly once in the Postgres totals" ||
  { echo "FAIL spooled events counted $got times, wanted 5"; fails=$((fails + 1)); }
rm -rf "$client"

[[ $fails -eq 0 ]] || { echo "$fails up.sh check(s) failed"; exit 1; }
