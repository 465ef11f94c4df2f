#!/usr/bin/env bash
# The production units in deploy/systemd: systemd itself checks each one
# (systemd-analyze verify: syntax, directives, the executables it starts),
# with the binaries of this build standing in for /usr/local/bin and the
# example environment files for /etc/tally; every TALLY_* name the units and
# the examples set is an option of the process that reads it (a misspelt
# name would be silently ignored); and least privilege: only tally-migrate
# connects as a superuser, the materializer, the gateway's key reader and the
# console as their own roles, the gateway's admin port on loopback; the
# console on loopback behind its TLS proxy, with Secure cookies.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
source deploy/local/env.sh
fails=0
ok() { echo "ok   $*"; }
fail() { echo "FAIL $*"; fails=$((fails + 1)); }

# No silent pass: deploy/setup.sh installs it (Debian package systemd).
if ! command -v systemd-analyze >/dev/null; then
  echo "FAIL systemd-analyze is not installed (deploy/setup.sh installs the package systemd)"; exit 1
fi
procs=(tally-gateway tally-anonymizer tally-aggregator tally-materializer tally-migrate tally-console tally-notifier tally-webhooks)
tally_build "${procs[@]}"
work=$(mktemp -d /tmp/tally-systemd-test.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/etc"
for example in deploy/systemd/*.env.example; do
  cp "$example" "$work/etc/$(basename "$example" .example)"
done
(umask 077 && : >"$work/etc/pseudonym.keys")   # as a real key file must be
for unit in deploy/systemd/*.service deploy/systemd/*.target; do
  name=$(basename "$unit")
  name=${name/@./@a.}   # a template is checked as one of its instances
  sed -e "s#/usr/local/bin/#$TALLY_BUILD_DIR/bin/#g" -e "s#/etc/tally/#$work/etc/#g" "$unit" >"$work/$name"
done
for f in "$work"/*.service "$work"/*.target; do
  if out=$(cd "$work" && systemd-analyze verify --man=no "$f" 2>&1) && [[ -z $out ]]; then
    ok "systemd-analyze verify $(basename "$f")"
  else
    fail "systemd-analyze verify $(basename "$f"): $out"
  fi
done

# Every TALLY_* name set anywhere in deploy/systemd is a documented option.
help=$(for b in "${procs[@]}"; do "$TALLY_BUILD_DIR/bin/$b" --help 2>&1; done)
for name in $(grep -ho 'TALLY_[A-Z_]*=' deploy/systemd/* | tr -d = | sort -u); do
  grep -q "\b$name\b" <<<"$help" && ok "$name is an option of a Tally process" || fail "$name is no option of any Tally process"
done
# A process's own file (gateway.env for tally-gateway...) sets its options.
for example in deploy/systemd/*.env.example; do
  proc=tally-$(basename "$example" .env.example)
  [[ -x $TALLY_BUILD_DIR/bin/$proc ]] || continue   # tally.env: every process
  own=$("$TALLY_BUILD_DIR/bin/$proc" --help 2>&1)
  for name in $(grep -o '^TALLY_[A-Z_]*=' "$example" | tr -d =); do
    grep -q "\b$name\b" <<<"$own" && ok "$(basename "$example"): $name is an option of $proc" ||
      fail "$(basename "$example"): $name is no option of $proc"
  done
done

# Least privilege: the superuser's URL in migrate.env alone; each process
# as its own role.
user_of() { sed -n "s#^$2=postgresql://\([^:@/]*\).*#\1#p" "deploy/systemd/$1.env.example"; }
[[ $(user_of migrate TALLY_PG_URL) == postgres ]] && ok "tally-migrate connects as the superuser" ||
  fail "migrate.env.example: TALLY_PG_URL user '$(user_of migrate TALLY_PG_URL)', wanted postgres"
[[ $(user_of materializer TALLY_PG_URL) == tally_materializer ]] && ok "tally-materializer connects as tally_materializer" ||
  fail "materializer.env.example: TALLY_PG_URL user '$(user_of materializer TALLY_PG_URL)', wanted tally_materializer"
[[ $(user_of gateway TALLY_KEYS_PG_URL) == tally_gateway ]] && ok "the gateway reads its keys as tally_gateway" ||
  fail "gateway.env.example: TALLY_KEYS_PG_URL user '$(user_of gateway TALLY_KEYS_PG_URL)', wanted tally_gateway"
[[ $(user_of console TALLY_PG_URL) == tally_reader ]] && ok "tally-console reads the read model as tally_reader" ||
  fail "console.env.example: TALLY_PG_URL user '$(user_of console TALLY_PG_URL)', wanted tally_reader"
if grep -hv '^#' deploy/systemd/tally-console.service deploy/systemd/*.env.example | grep -Eqi 'insecure.cookies'; then
  fail "the production console would send its session cookies without Secure (--insecure-cookies is for local use)"
else
  ok "the production console's session cookies are Secure (no --insecure-cookies in deploy/systemd)"
fi
grep -q '^TALLY_BIND=127.0.0.1$' deploy/systemd/console.env.example &&
  grep -q '^TALLY_STAFF_TOKEN=' deploy/systemd/console.env.example &&
  ok "the console listens on loopback (behind its TLS proxy); its staff token is in its own mode-0600 file" ||
  fail "console.env.example: no TALLY_BIND=127.0.0.1 or no TALLY_STAFF_TOKEN"
grep -q 'tally-console.service' deploy/systemd/tally.target && ok "tally.target starts the console" ||
  fail "tally.target does not want tally-console.service"
if grep -l 'postgresql://postgres[:@]' deploy/systemd/* | grep -v migrate; then
  fail "a superuser URL outside migrate.env.example (above)"
else
  ok "no other unit or example connects as the superuser"
fi
grep -q -- '--no-apply-migrations' deploy/systemd/tally-materializer.service &&
  grep -q '^Requires=tally-migrate.service' deploy/systemd/tally-materializer.service &&
  ok "the materializer leaves migrations to tally-migrate.service, which runs first" ||
  fail "tally-materializer.service applies migrations itself or does not require tally-migrate.service"
grep -q '^TALLY_ADMIN_BIND=127.0.0.1$' deploy/systemd/gateway.env.example &&
  grep -q '^TALLY_ADMIN_PORT=[1-9][0-9]*$' deploy/systemd/gateway.env.example &&
  ok "the gateway's admin routes and /metrics listen on a port of their own on loopback" ||
  fail "gateway.env.example: no TALLY_ADMIN_PORT on TALLY_ADMIN_BIND=127.0.0.1"
# Every flag the units pass is accepted by its process.
for unit in deploy/systemd/*.service; do
  line=$(grep '^ExecStart=' "$unit"); cmd=${line#ExecStart=}; bin=$(basename "${cmd%% *}")
  for flag in $(grep -o -- '--[a-z-]*' <<<"$line"); do
    # Not "--help | grep -q": grep's early exit would SIGPIPE a long help, and pipefail fail it.
    usage=$("$TALLY_BUILD_DIR/bin/$bin" --help 2>&1)
    grep -q -- "$flag\b" <<<"$usage" && ok "$bin accepts $flag" || fail "$bin has no $flag"
  done
done
[[ $fails -eq 0 ]] || { echo "$fails systemd check(s) failed"; exit 1; }
