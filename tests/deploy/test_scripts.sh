#!/usr/bin/env bash
# Script-level tests of the deploy tools, run by tests/run.sh with the local
# broker and PostgreSQL up: what an operator sees when things are fine and
# when the input is bad.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
source deploy/local/env.sh
bin=$TALLY_BUILD_DIR/bin
fails=0
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

pass() { echo "ok   $*"; }
fail() { echo "FAIL $*"; fails=$((fails + 1)); }
# expect <status> <needle> <description> -- command...: checks exit status and
# that the combined output contains needle.
expect() {
  local want=$1 needle=$2 what=$3; shift 4
  local out rc
  out=$("$@" 2>&1); rc=$?
  if [[ $rc -ne $want ]]; then fail "$what: exit $rc, wanted $want: $out"; return; fi
  if [[ -n $needle && $out != *"$needle"* ]]; then fail "$what: output lacks '$needle': $out"; return; fi
  pass "$what"
}

# setup.sh is quiet and quick when everything is installed.
t0=$(date +%s%N)
out=$(deploy/setup.sh 2>&1); rc=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[[ $rc -eq 0 && -z $out ]] && pass "setup.sh is silent when all is present (${ms} ms)" ||
  fail "setup.sh second run: rc=$rc output=$out"

# librdkafka comes from the cache once built: silent and at once, and what
# is there is the release env.sh names, an archive only (a shared library
# beside it would be linked instead, and need the cache at run time). Its
# source comes through cargo from crates.io: the script names no URL.
t0=$(date +%s%N)
out=$(deploy/librdkafka.sh 2>&1); rc=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[[ $rc -eq 0 && -z $out && $ms -lt 2000 ]] && pass "librdkafka.sh is silent and quick when cached (${ms} ms)" ||
  fail "librdkafka.sh with the cache filled: rc=$rc ${ms} ms output=$out"
v=$(PKG_CONFIG_PATH=$TALLY_LIBRDKAFKA_PREFIX/lib/pkgconfig pkg-config --modversion rdkafka 2>&1)
[[ $v == "$TALLY_LIBRDKAFKA_VERSION" && -f $TALLY_LIBRDKAFKA_PREFIX/lib/librdkafka.a ]] &&
  ! compgen -G "$TALLY_LIBRDKAFKA_PREFIX/lib/librdkafka*.so*" >/dev/null &&
  pass "the cache holds librdkafka $v, static only" ||
  fail "the cache $TALLY_LIBRDKAFKA_PREFIX: pkg-config says '$v', wanted $TALLY_LIBRDKAFKA_VERSION (archive only)"
grep -qE '[a-z]+://' deploy/librdkafka.sh && fail "deploy/librdkafka.sh names a URL" ||
  pass "deploy/librdkafka.sh names no download URL"

# Every executable script starts with its interpreter line: a line before it
# runs under whichever shell calls the script (a stray edit before the
# shebang once wrote a key file to / with an unset variable).
bad=()
while IFS= read -r -d '' f; do
  [[ $(head -c 2 "$f") == '#!' ]] || bad+=("$f")
done < <(git ls-files -z -- '*.sh' '.ci/*' | xargs -0 -I{} sh -c 'test -x "{}" && printf "%s\0" "{}"')
[[ ${#bad[@]} -eq 0 ]] && pass "every executable script starts with #!" ||
  fail "executable scripts without #! on their first line: ${bad[*]}"

expect 0 "running" "kafka.sh status" -- deploy/local/kafka.sh status
expect 0 "running" "postgres.sh status" -- deploy/local/postgres.sh status
expect 0 "--brokers" "tally-kafka-admin --help lists options" -- "$bin/tally-kafka-admin" --help
expect 2 "bad command" "tally-kafka-admin without a command" -- "$bin/tally-kafka-admin"
expect 2 "--nope" "tally-kafka-admin unknown flag named" -- "$bin/tally-kafka-admin" --nope wait
expect 0 "" "tally-kafka-admin wait" -- "$bin/tally-kafka-admin" --brokers="$TALLY_BROKERS" wait --timeout=10s
expect 1 "no broker answered" "tally-kafka-admin wait on a closed port" -- \
  "$bin/tally-kafka-admin" --brokers=127.0.0.1:1 wait --timeout=1s
printf 'tally.usage 6 -1 delete\ntally.bad 1 -1 shred\n' >"$tmp/topics.conf"
expect 1 "topics.conf:2: cleanup.policy" "topics file error names file and line" -- \
  "$bin/tally-kafka-admin" --brokers="$TALLY_BROKERS" topics "$tmp/topics.conf"
printf 'tally.usage 5 -1 delete\n' >"$tmp/topics.conf"
expect 1 "exists with 6 partitions" "a changed partition count is refused" -- \
  "$bin/tally-kafka-admin" --brokers="$TALLY_BROKERS" topics "$tmp/topics.conf"
expect 0 "" "project topics are idempotent" -- \
  "$bin/tally-kafka-admin" --brokers="$TALLY_BROKERS" --max-replication="$TALLY_KAFKA_NODES" topics deploy/kafka/topics.conf
# Without the local stack's cap, topics.conf asks for 3 replicas: a single
# node's topics do not have them, and that is said rather than accepted.
if [[ $TALLY_KAFKA_NODES -eq 1 ]]; then
  expect 1 "exists with 1 replicas, topics.conf says 3" "fewer replicas than declared are refused" -- \
    "$bin/tally-kafka-admin" --brokers="$TALLY_BROKERS" topics deploy/kafka/topics.conf
fi

deploy/local/postgres.sh migrate >/dev/null 2>&1
expect 0 "0 migration(s) applied" "migrations are applied once" -- deploy/local/postgres.sh migrate
expect 1 "/nonexistent" "tally-migrate names a missing folder" -- \
  "$bin/tally-migrate" --pg-url="$TALLY_PG_URL" --migrations=/nonexistent
expect 1 "cannot connect" "tally-migrate names an unreachable database" -- \
  "$bin/tally-migrate" --pg-url="postgresql://postgres@127.0.0.1:1/tally" --migrations=deploy/postgres/migrations
out=$("$bin/tally-migrate" --pg-url="postgresql://postgres:hunter2@127.0.0.1:1/tally" 2>&1)
[[ $out != *hunter2* ]] && pass "tally-migrate never prints the database password" || fail "password leaked: $out"
expect 2 "log-level" "tally-migrate bad log level" -- "$bin/tally-migrate" --log-level=loud

# docs/telemetry.md is generated from the catalogs and must be current.
if "$bin/tally-telemetry-doc" --output="$tmp/telemetry.md" && diff -u docs/telemetry.md "$tmp/telemetry.md" >"$tmp/doc.diff"; then
  pass "docs/telemetry.md is current"
else
  fail "docs/telemetry.md is stale: run cmake --build build --target telemetry-doc"; head -20 "$tmp/doc.diff"
fi

[[ $fails -eq 0 ]] || { echo "$fails script test(s) failed"; exit 1; }
