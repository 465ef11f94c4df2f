#!/usr/bin/env bash
# Runs every test suite of Tally: installs what is missing, builds, starts the
# local Kafka broker and PostgreSQL when they are not already running, runs the
# Criterion suites (unit and integration) and the script tests, stops what it
# started (also on failure) and exits non-zero on any failure.
#
#   tests/run.sh                 normal build (-Werror), then the same suites
#                                under AddressSanitizer + UBSan
#   tests/run.sh --no-sanitize   normal build only
#   tests/run.sh --sanitize-only sanitizer build only
#   tests/run.sh -R regex        only the ctest suites matching regex
#   tests/run.sh --fuzz SECONDS  run each libFuzzer harness (tests/fuzz) for
#                                SECONDS (default 30, none with -R)
#   tests/run.sh --no-fuzz       no fuzzing (the same as --fuzz 0)
#   tests/run.sh --no-cluster    without the broker-loss test, which otherwise
#                                runs after the script tests of the normal
#                                build on a three-node cluster of its own
#                                (tests/cluster/run.sh, about 2.5 minutes)
# TALLY_TEST_JOBS=N runs N suites at a time (default 2; 1: one by one).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source deploy/local/env.sh
source tests/support/run_checks.sh

modes=(normal sanitize)
filter=()
fuzz_seconds=
cluster=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --no-sanitize) modes=(normal) ;;
    --sanitize-only) modes=(sanitize) ;;
    -R) filter=(-R "$2"); shift ;;
    --fuzz)
      [[ ${2:-} =~ ^[0-9]+$ ]] || { echo "run.sh: --fuzz needs a number of seconds" >&2; exit 2; }
      fuzz_seconds=$2; shift ;;
    --no-fuzz) fuzz_seconds=0 ;;
    --no-cluster) cluster=0 ;;
    -h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
# CI runs ./tests/run.sh alone: 30 s per harness. A run of chosen suites
# (-R) fuzzes only when asked to.
if [[ -z $fuzz_seconds ]]; then
  fuzz_seconds=30
  [[ ${#filter[@]} -eq 0 ]] || fuzz_seconds=0
fi

t_start=$SECONDS
started=()
topics_before= admin_bin=
# The suites create topics of their own (unique names, never reused): on a
# broker this run did not start, delete what the run added, so a developer's
# broker does not pile up thousands of partitions (its restarts slow down
# with each). Best effort: a failure here fails nothing.
prune_topics() {
  [[ -n $topics_before ]] || return 0
  local admin=$admin_bin added
  [[ -x $admin ]] || return 0
  added=$("$admin" --brokers="$TALLY_BROKERS" list 2>/dev/null | sort |
    comm -23 - <(printf '%s\n' "$topics_before" | sort) |
    comm -23 - <(awk '!/^#/ && NF { print $1 }' deploy/kafka/topics.conf | sort)) || return 0
  [[ -n $added ]] || return 0
  echo "run.sh: deleting the $(wc -l <<<"$added") topic(s) the suites created" >&2
  xargs -n 200 "$admin" --brokers="$TALLY_BROKERS" --timeout=60s delete <<<"$added" >/dev/null 2>&1 || true
}
cleanup() {
  local rc=$?
  prune_topics
  for svc in "${started[@]}"; do "deploy/local/$svc.sh" stop || true; done
  echo "run.sh: finished in $((SECONDS - t_start)) s with status $rc" >&2
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

phase() { echo; echo "=== $* ($(( SECONDS - t_start )) s)" >&2; }

phase "setup"
deploy/setup.sh --test

failed=0
# Suites run two at a time (TALLY_TEST_JOBS); those that stop or kill the
# shared broker or PostgreSQL are RUN_SERIAL (tests/CMakeLists.txt) and run
# alone, so they may do so.
export TALLY_TEST_DISRUPTIVE=1
for mode in "${modes[@]}"; do
  if [[ $mode == sanitize ]]; then
    export TALLY_BUILD_DIR=$TALLY_ROOT/build-sanitize
    export TALLY_CMAKE_FLAGS="-DTALLY_WERROR=ON -DTALLY_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug"
    export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
    export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  else
    export TALLY_BUILD_DIR=$TALLY_ROOT/build
    export TALLY_CMAKE_FLAGS="-DTALLY_WERROR=ON"
  fi
  phase "build ($mode) in ${TALLY_BUILD_DIR#$TALLY_ROOT/}"
  tally_build

  if [[ ${#started[@]} -eq 0 ]]; then
    phase "services"
    for svc in kafka postgres; do
      if "deploy/local/$svc.sh" status >/dev/null 2>&1; then
        echo "$svc: already running, reusing it" >&2
      else
        t0=$SECONDS
        "deploy/local/$svc.sh" start
        started+=("$svc")
        echo "$svc: started in $((SECONDS - t0)) s" >&2
      fi
    done
    # (A broker this run started is stopped at the end: its topics stay.)
    if [[ " ${started[*]} " != *" kafka "* ]]; then
      admin_bin=$TALLY_BUILD_DIR/bin/tally-kafka-admin
      topics_before=$("$admin_bin" --brokers="$TALLY_BROKERS" list) ||
        tally_die "cannot list the broker's topics"
      [[ -n $topics_before ]] || topics_before=" "
    fi
  fi

  phase "suites ($mode)"
  ctest_log=$TALLY_BUILD_DIR/ctest.log
  # (tests/CMakeLists.txt points the suites' TALLY_TEST_SANITIZER_LOGS here.)
  sanitizer_logs=$TALLY_BUILD_DIR/sanitizer-logs
  tally_sanitizer_logs_reset "$sanitizer_logs"
  # Verbose into the log (every suite's output, for the sanitizer check
  # below); the console gets the progress lines and what failed.
  set +e
  # --no-tests=error: a build without the suites (Criterion not found) or a
  # filter matching nothing is a failure, not an empty success.
  # Two long fault suites run in one build each, to keep the whole run near
  # 20 minutes: the crash test's stress mode (mostly SIGTERM stops) in the
  # normal build, the chaos suite in the sanitizer build (where a memory
  # error of a process killed and restarted mid-stream is caught). The
  # aggregator's default crash test runs in both. With one build only, or
  # -R, both run where asked.
  once=()
  if [[ ${#filter[@]} -eq 0 && ${#modes[@]} -eq 2 ]]; then
    if [[ $mode == sanitize ]]; then once=(-E '^aggregator_test_exactly_once_graceful$'); else once=(-E '^chaos_'); fi
  fi
  ctest --test-dir "$TALLY_BUILD_DIR" -V -j "${TALLY_TEST_JOBS:-2}" --timeout 900 --no-tests=error "${filter[@]}" "${once[@]}" >"$ctest_log" 2>&1
  ctest_rc=$?
  set -e
  grep -E '^ *[0-9]+/[0-9]+ Test +#|tests passed|tests failed|^[[:space:]]+[0-9]+ - ' "$ctest_log" || true
  if [[ $ctest_rc -ne 0 ]]; then
    failed=1
    grep -E -A3 '\[FAIL\]|Assertion Failed|Warning! The test' "$ctest_log" | grep -v '\[rdkafka\]' | head -80 || true
    echo "run.sh: full output in $ctest_log" >&2
  fi
  # Criterion counts a test as passed even when LeakSanitizer or UBSan
  # reported in its worker: any sanitizer report fails the run.
  if grep -nE 'ERROR: (Leak|Address)Sanitizer|runtime error:' "$ctest_log"; then
    echo "run.sh: sanitizer reports above" >&2
    failed=1
  fi
  # The processes the suites spawned write theirs to files.
  tally_sanitizer_logs_scan "$sanitizer_logs" || failed=1
  tally_ignored_assertions "$ctest_log" || failed=1
  tally_report_skips "$ctest_log"

  if [[ ${#filter[@]} -eq 0 && $mode == normal ]]; then
    phase "script tests"
    for t in tests/deploy/test_*.sh; do
      [[ -e $t ]] || continue
      echo "--- $t" >&2
      bash "$t" || { echo "FAILED: $t" >&2; failed=1; }
    done
    # Its own cluster and ports; the broker above keeps running meanwhile.
    if [[ $cluster -eq 1 ]]; then
      phase "cluster: broker loss on three Kafka nodes"
      tests/cluster/run.sh || { echo "FAILED: tests/cluster/run.sh" >&2; failed=1; }
    else
      echo "run.sh: the broker-loss test (tests/cluster) NOT run: --no-cluster" >&2
    fi
  elif [[ $mode == normal ]]; then
    echo "run.sh: script tests and the broker-loss test not run with -R (tests/cluster/run.sh runs the latter alone)" >&2
  fi
done
[[ " ${modes[*]} " == *" normal "* ]] ||
  echo "run.sh: the broker-loss test (tests/cluster) runs with the normal build only: NOT run (--sanitize-only)" >&2

# ---- fuzz phase: every libFuzzer harness of tests/fuzz for fuzz_seconds,
# in its own clang build (build-fuzz), on a copy of its seed corpus. ----
if [[ $fuzz_seconds -gt 0 ]]; then
  phase "fuzz (${fuzz_seconds} s per harness)"
  tests/fuzz/run.sh "$fuzz_seconds" || failed=1
fi
# ---- end of the fuzz phase ----

[[ $failed -eq 0 ]] || { echo "run.sh: some tests FAILED" >&2; exit 1; }
echo "run.sh: all tests passed" >&2
