#!/usr/bin/env bash
# The production units in deploy/systemd: systemd itself checks each one
# (systemd-analyze verify: syntax, directives, the executables it starts),
# with the binaries of this build standing in for /usr/local/bin; and every
# TALLY_* name the units and the example environment set is an option of a
# Tally process (a misspelt name would be silently ignored).
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
tally_build tally-gateway tally-anonymizer tally-aggregator tally-materializer
work=$(mktemp -d /tmp/tally-systemd-test.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/etc"
: >"$work/etc/tally.env"
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
help=$(for b in tally-gateway tally-anonymizer tally-aggregator tally-materializer; do
  "$TALLY_BUILD_DIR/bin/$b" --help 2>&1; done)
for name in $(grep -ho 'TALLY_[A-Z_]*=' deploy/systemd/* | tr -d = | sort -u); do
  grep -q "\b$name\b" <<<"$help" && ok "$name is an option of a Tally process" || fail "$name is no option of any Tally process"
done
# Every flag the units pass is accepted by its process.
for unit in deploy/systemd/*.service; do
  line=$(grep '^ExecStart=' "$unit"); cmd=${line#ExecStart=}; bin=$(basename "${cmd%% *}")
  for flag in $(grep -o -- '--[a-z-]*' <<<"$line"); do
    "$TALLY_BUILD_DIR/bin/$bin" --help 2>&1 | grep -q -- "$flag\b" && ok "$bin accepts $flag" || fail "$bin has no $flag"
  done
done
[[ $fails -eq 0 ]] || { echo "$fails systemd check(s) failed"; exit 1; }
