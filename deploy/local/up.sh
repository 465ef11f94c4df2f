#!/usr/bin/env bash
# The main job on one machine, with no outside service: installs what is
# missing, builds, starts Apache Kafka (KRaft) on 127.0.0.1:19092 and
# PostgreSQL 15 on 127.0.0.1:55432, the pipeline processes (gateway,
# anonymizer, aggregator, materializer, console), sends a simulated month of
# three customers with the `tally` client, shows the Control Panel's usage
# view once the numbers have landed, and ends with the console's address and
# a sign-in link for a member of each demo tenant (Globex, over its license,
# first) and for vendor staff. Globex crosses 80 % and 100 % of its monthly
# API calls: its webhook (set through the console, received by `tally
# webhook-listen`, deploy/local/alerts_demo.sh) prints both alerts, and
# up.sh prints them once they have arrived.
# Stop everything with deploy/local/down.sh.
# TALLY_UP_SHORT=1: fewer product events (CI).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
source deploy/local/env.sh

t0=$SECONDS
tally_log "setup: checking Debian packages"
deploy/setup.sh
tally_log "build: $TALLY_BUILD_DIR"
tally_build
deploy/local/kafka.sh start
deploy/local/postgres.sh start

deploy/local/pipeline.sh start
# Globex's alert rules and webhook are set (through the console) before the
# month's usage is sent, so its webhook receives the alerts as they happen.
TALLY_SIMULATE_BEFORE_USAGE="deploy/local/alerts_demo.sh setup" deploy/local/simulate.sh ${TALLY_UP_SHORT:+--short}
# Globex crossed 80 % and 100 % of its monthly API calls: its listener
# printed both alerts (bounded wait; exit 1 naming what is missing).
deploy/local/alerts_demo.sh wait
# Sign-in links for the console, each token issued as a Control Panel event
# and projected before its link is printed.
console_url=$(deploy/local/console.sh url)
declare -A console_link
for t in globex acme initech; do console_link[$t]=$(deploy/local/console.sh link "$t" "$t-owner"); done
console_staff_link=$(deploy/local/console.sh staff-link)

# A signed personal-dev license for acme's owner (docs/licenses.md): fetched
# from the console with the member's console token (the console signs it and
# sends its LicenseIssued event through the gateway before handing it out),
# then verified offline against the console's published public keys.
# One idempotency key a month: running up.sh again hands out the same
# license (the console answers a retry from tally.licenses) instead of one
# more each time (a member holds at most --license-member-max at once).
licenses=$TALLY_STATE/licenses
mkdir -p "$licenses"
curl -fsS "$console_url/api/v1/licenses/keys?format=pub" -o "$licenses/console.pub" ||
  tally_die "license: cannot get the console's public keys"
tally_log "license: tally license fetch (acme-owner's personal-dev license)"
TALLY_TOKEN=${console_link[acme]#*token=} "$TALLY_BUILD_DIR/bin/tally" license fetch \
  --console-url="$console_url" --out="$licenses/acme-owner.license" --force \
  --idempotency-key="up-demo-$(date -u +%Y-%m)" ||
  tally_die "license: tally license fetch failed"
tally_log "license: tally license verify (offline, public key ${licenses#$TALLY_ROOT/}/console.pub)"
"$TALLY_BUILD_DIR/bin/tally" license verify "$licenses/acme-owner.license" --public-key="$licenses/console.pub" ||
  tally_die "license: the fetched license does not verify"

cat <<MSG

Tally's local stack is up ($((SECONDS - t0)) s):
  Kafka        $TALLY_BROKERS   (deploy/local/kafka.sh status)
  PostgreSQL   $TALLY_PG_HOST:$TALLY_PG_PORT database $TALLY_PG_DB   (deploy/local/postgres.sh psql)
  gateway      http://127.0.0.1:${TALLY_GATEWAY_PORT:-8080}   (/healthz /readyz /metrics)
  anonymizer   http://127.0.0.1:$((${TALLY_ADMIN_PORT_BASE:-9100} + 1))/metrics
  aggregator   http://127.0.0.1:$((${TALLY_ADMIN_PORT_BASE:-9100} + 2))/metrics
  materializer http://127.0.0.1:$((${TALLY_ADMIN_PORT_BASE:-9100} + 3))/metrics
  notifier     http://127.0.0.1:$((${TALLY_ADMIN_PORT_BASE:-9100} + 5))/metrics   (usage alerts: tally.alerts)
  console      $console_url   (/healthz /readyz /metrics; docs/console.md)
  logs         ${TALLY_STATE#$TALLY_ROOT/}/pipeline/*.log   (deploy/local/pipeline.sh status)

Send your own events with the client, e.g.
  $TALLY_BUILD_DIR/bin/tally send product '{"event":"deploy.start","properties":{"region":"eu"}}'
Audit any number against the log:  $TALLY_BUILD_DIR/bin/tally-replay audit
Stop everything:                   deploy/local/down.sh   (--wipe also deletes the data)

The console: $console_url
  Open this first, Globex Corporation (over its license), as its owner:
    ${console_link[globex]}
  A member of each demo tenant (links valid for 24 hours; a new one:
  deploy/local/console.sh link TENANT MEMBER):
    acme     ${console_link[acme]}
    initech  ${console_link[initech]}
    globex   ${console_link[globex]}
  Vendor staff (every tenant, product analytics):
    staff    $console_staff_link

Usage alerts: Globex's webhook is http://127.0.0.1:${TALLY_ALERTS_LISTEN_PORT:-8096}/globex, where
  tally webhook-listen prints each signed alert into ${TALLY_STATE#$TALLY_ROOT/}/alerts/globex.out
  (the vendor's: alerts/vendor.out); set a tenant's webhook on its page /t/TENANT/webhook.

A signed personal-dev license for acme's owner, fetched and verified offline above:
  ${licenses#$TALLY_ROOT/}/acme-owner.license
  $TALLY_BUILD_DIR/bin/tally license show ${licenses#$TALLY_ROOT/}/acme-owner.license
MSG
