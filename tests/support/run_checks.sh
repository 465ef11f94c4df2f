# Sourced by tests/run.sh (and tests/deploy/test_sanitizer_logs.sh): checks
# made after the suites ran.
#
# The sanitizer reports of the Tally processes the suites spawned. Each child
# writes its reports to $TALLY_TEST_SANITIZER_LOGS/<process>.<pid>
# (ASAN_OPTIONS/UBSAN_OPTIONS log_path, set by tests/support/subprocess.c);
# a sanitizer opens that file only to write a report into it.

# Empties (creates) the folder before a run of the suites.
tally_sanitizer_logs_reset() {
  rm -rf -- "$1" && mkdir -p -- "$1"
}

# Prints the first lines of every report in folder $1; returns 1 when there
# is any (a non-empty file), 0 when there is none.
tally_sanitizer_logs_scan() {
  local dir=$1 f n=0
  [[ -d $dir ]] || return 0
  while IFS= read -r -d '' f; do
    [[ -s $f ]] || continue
    n=$((n + 1))
    echo "--- sanitizer report: $f" >&2
    head -n 20 -- "$f" >&2
  done < <(find "$dir" -type f -print0 | sort -z)
  if [[ $n -gt 0 ]]; then
    echo "run.sh: $n sanitizer report(s) from spawned processes in $dir" >&2
    return 1
  fi
  return 0
}

# Lists the tests that skipped themselves in the ctest -V output $1 (lines
# "SKIPPED: suite::test: reason", from TALLY_TEST_SKIP in
# tests/support/fixtures.h) and prints how many; never fails: a skip is
# reported, not hidden.
tally_report_skips() {
  local lines n
  lines=$(grep -E '^([0-9]+: )?SKIPPED: ' "$1" | sed -E 's/^[0-9]+: //' | sort -u) || true
  n=$(grep -c . <<<"$lines") || true
  echo "run.sh: $n test(s) skipped${lines:+:}" >&2
  [[ -z $lines ]] || sed 's/^/  /' <<<"$lines" >&2
}

# Criterion counts a test as passed when an assertion fails in its .init or
# .fini (it prints "Assertion Failed" and goes on): any such line in the
# ctest -V output $1 fails the run. Returns 1 and shows them when there is one.
tally_ignored_assertions() {
  local hits
  hits=$(grep -n -A3 'Assertion Failed' "$1" | head -40) || true
  [[ -z $hits ]] && return 0
  echo "run.sh: assertions failed (some in a test's setup or teardown, which Criterion counts as passed):" >&2
  echo "$hits" >&2
  return 1
}
