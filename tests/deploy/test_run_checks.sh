#!/usr/bin/env bash
# The checks tests/run.sh makes after the suites (tests/support/run_checks.sh).
#
# Its scan of the sanitizer reports that spawned processes write fails on a
# real report: a small program built with the sanitizer build's flags leaks
# or overflows a heap buffer, run with log_path appended to the options as
# tests/support/subprocess.c does for every Tally process; the scan must
# fail and show each report. A clean run leaves nothing to find.
#
# UBSan of GCC (12) combined with ASan ignores log_path: its report stays on
# the process's stderr (which the fixtures echo into the suite's output,
# where tests/run.sh finds "runtime error:"), and -fno-sanitize-recover
# ends the process with a non-zero status, which the fixtures check. The
# last case pins that down: if a toolchain writes the file instead, the
# scan must fail on it.
#
# Its count of skipped tests lists each "SKIPPED:" line of ctest's output.
#
# A Criterion test whose teardown fails an assertion passes (exit 0): the
# check of ctest's output for "Assertion Failed" must catch it.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
source tests/support/run_checks.sh
fails=0
ok() { echo "ok   $*"; }
fail() { echo "FAIL $*"; fails=$((fails + 1)); }
work=$(mktemp -d /tmp/tally-sanitizer-logs-test.XXXXXX)
trap 'rm -rf "$work"' EXIT
cc=${CC:-cc}
command -v "$cc" >/dev/null || { echo "FAIL no C compiler ($cc) to build the probes"; exit 1; }

cat >"$work/probe.c" <<'C'
#include <limits.h>
#include <stdlib.h>
#include <string.h>
int main(int argc, char **argv)
{
    (void)argc;
    if (strcmp(argv[1], "clean") == 0)
        return 0;
    if (strcmp(argv[1], "leak") == 0) {
        char *volatile p = malloc(64);
        p = NULL;
        return 0;
    }
    if (strcmp(argv[1], "overflow") == 0) {
        volatile int x = INT_MAX;
        return x + atoi(argv[2]) > 0;
    }
    char *b = malloc(8);
    b[atoi(argv[2])] = 1; /* heap-buffer-overflow */
    free(b);
    return 0;
}
C
"$cc" -g -O0 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined -o "$work/probe" "$work/probe.c" ||
  { echo "FAIL cannot build the sanitizer probe"; exit 1; }

# run <name> <args...>: as a suite's child, the run's options plus log_path.
logs=$work/logs
run() {
  local name=$1; shift
  # (In a subshell, whose own stderr drops bash's "Aborted" notice.)
  (ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:log_path=$logs/$name" \
    UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$logs/$name" \
    "$work/probe" "$@" >/dev/null 2>"$work/stderr"; rc=$?; exit $rc) 2>/dev/null
}

tally_sanitizer_logs_reset "$logs"
tally_sanitizer_logs_scan "$logs" 2>/dev/null && ok "an empty folder scans clean" || fail "an empty folder fails the scan"
tally_sanitizer_logs_scan "$work/none" 2>/dev/null && ok "a missing folder scans clean" ||
  fail "a missing folder fails the scan"
run tally-clean clean
tally_sanitizer_logs_scan "$logs" 2>/dev/null && ok "a clean process leaves no report" ||
  fail "a clean process left a report: $(ls "$logs")"

for probe in "leak LeakSanitizer" "heap heap-buffer-overflow"; do
  read -r what needle <<<"$probe"
  tally_sanitizer_logs_reset "$logs"
  run "tally-$what" "$what" 8
  out=$(tally_sanitizer_logs_scan "$logs" 2>&1); rc=$?
  if [[ $rc -eq 1 && $out == *"$needle"* && $out == *"tally-$what."* ]]; then
    ok "a $what report in a child's log fails the scan and is shown"
  else
    fail "a $what report: scan rc=$rc, output: $out (files: $(ls "$logs"))"
  fi
done

tally_sanitizer_logs_reset "$logs"
run tally-overflow overflow 1; status=$?
out=$(tally_sanitizer_logs_scan "$logs" 2>&1); rc=$?
needle="runtime error: signed integer overflow"
if [[ $rc -eq 1 && $out == *"$needle"* ]]; then
  ok "a UBSan report in a child's log fails the scan and is shown"
elif [[ $rc -eq 0 && $status -ne 0 && $(cat "$work/stderr") == *"$needle"* ]]; then
  ok "a UBSan report goes to the child's stderr and ends it with status $status (GCC ignores log_path there)"
else
  fail "a UBSan report: scan rc=$rc, exit status $status, stderr: $(cat "$work/stderr")"
fi

printf '12: SKIPPED: codec::hot_path: off under ASan\n12: [====] Synthesis\nSKIPPED: disruptive::restart: why\n' \
  >"$work/ctest.log"
out=$(tally_report_skips "$work/ctest.log" 2>&1)
[[ $out == *"2 test(s) skipped"*"codec::hot_path: off under ASan"*"disruptive::restart: why"* ]] &&
  ok "skipped tests are counted and listed" || fail "skip report: $out"
out=$(tally_report_skips /dev/null 2>&1)
[[ $out == "run.sh: 0 test(s) skipped" ]] && ok "no skip, none reported" || fail "skip report of nothing: $out"

cat >"$work/fini.c" <<'C'
#include <criterion/criterion.h>
static void teardown(void) { cr_assert_fail("the teardown found a fault"); }
Test(probe, passes_then_teardown_fails, .fini = teardown) { cr_assert(1); }
Test(probe, passes) { cr_assert(1); }
C
if "$cc" -o "$work/fini" "$work/fini.c" $(pkg-config --cflags --libs criterion); then
  "$work/fini" --jobs=1 >"$work/fini.log" 2>&1; rc=$?
  out=$(tally_ignored_assertions "$work/fini.log" 2>&1); scan=$?
  [[ $scan -eq 1 && $out == *"the teardown found a fault"* ]] &&
    ok "a failed assertion in a teardown (Criterion exit $rc) fails the check" ||
    fail "teardown assertion: Criterion exit $rc, check returned $scan: $out"
  "$work/fini" --jobs=1 --filter='probe/passes' >"$work/pass.log" 2>&1
  tally_ignored_assertions "$work/pass.log" 2>/dev/null && ok "a passing suite passes the check" ||
    fail "a passing suite fails the check: $(cat "$work/pass.log")"
else
  fail "cannot build the Criterion probe"
fi
[[ $fails -eq 0 ]] || { echo "$fails run check(s) failed"; exit 1; }
