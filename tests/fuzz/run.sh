#!/usr/bin/env bash
# Builds the libFuzzer harnesses of tests/fuzz (clang, -DTALLY_FUZZ=ON, in
# build-fuzz: the gcc builds are not touched) and runs each for SECONDS on
# a copy of its seed corpus (corpus/<harness>/ stays as checked in). Exits
# non-zero when any harness crashed, timed out, leaked or broke one of its
# properties, after printing the reproducer to run again:
#
#   tests/fuzz/run.sh SECONDS [harness...]     (default: every harness)
#   LSAN_OPTIONS=use_unaligned=1 build-fuzz/fuzz/fuzz_<harness> <reproducer>
#                                              replays one input
#
# tests/run.sh calls it (its fuzz phase); it needs deploy/setup.sh --test.
# The seeds in corpus/ are checked in as they are (test data, every schema's
# example, gzip bodies, hostile scrubber texts such as scrub/jwt-pumped);
# corpus/codec_decode was written by the JSON->Avro harness with
# TALLY_FUZZ_DUMP_DIR=tests/fuzz/corpus/codec_decode.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
source deploy/local/env.sh

all=(json_reader body_split json_avro codec_decode scrub license_parse)
[[ $# -ge 1 && $1 =~ ^[1-9][0-9]*$ ]] || { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
seconds=$1
shift
harnesses=("$@")
[[ ${#harnesses[@]} -gt 0 ]] || harnesses=("${all[@]}")

export TALLY_BUILD_DIR=${TALLY_FUZZ_BUILD_DIR:-$TALLY_ROOT/build-fuzz}
export TALLY_CMAKE_FLAGS="-DCMAKE_C_COMPILER=clang -DTALLY_FUZZ=ON -DTALLY_WERROR=ON"
tally_build tally_fuzzers

# avro-c keeps a reference count in front of each value it allocates, so
# LeakSanitizer sees only unaligned pointers to them: use_unaligned=1, or it
# reports every live avro-c value as leaked. (An LSan flag: ASAN_OPTIONS
# does not carry it.)
export ASAN_OPTIONS=detect_leaks=1:use_unaligned=1:quarantine_size_mb=64:malloc_context_size=20
export LSAN_OPTIONS=use_unaligned=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export TALLY_SOURCE_DIR=$TALLY_ROOT

failed=()
for h in "${harnesses[@]}"; do
  bin=$TALLY_BUILD_DIR/fuzz/fuzz_$h
  [[ -x $bin ]] || tally_die "no harness $h (expected $bin)"
  work=$TALLY_BUILD_DIR/fuzz-runs/$h
  rm -rf "$work"
  mkdir -p "$work/corpus" "$work/artifacts"
  cp tests/fuzz/corpus/"$h"/* "$work/corpus/"
  # A second per input is already hostile for the scrubber (its harness
  # also limits CPU per text, see fuzz_scrub.c); the others get more room
  # on a busy machine.
  timeout=10
  [[ $h == scrub ]] && timeout=1
  set +e
  "$bin" -max_total_time="$seconds" -timeout="$timeout" -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$work/artifacts/" "$work/corpus" >"$work/log" 2>&1
  rc=$?
  set -e
  done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$work/log" | tail -1 || true)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log")
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/log")
  cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+/[0-9]+[a-zA-Z]*' <<<"$done_line" || true)
  artifacts=$(find "$work/artifacts" -type f | sort)
  if [[ $rc -eq 0 && -z $artifacts ]]; then
    echo "fuzz_$h: ok, ${execs:-?} inputs in $seconds s (${rate:-?}/s), ${cov:-no coverage line}" >&2
    continue
  fi
  failed+=("$h")
  echo "fuzz_$h: FAILED (exit $rc) after ${execs:-?} inputs; log: $work/log" >&2
  grep -E '^fuzz: |ERROR: [A-Za-z]+Sanitizer|runtime error:|^SUMMARY:|ALARM|Test unit written' "$work/log" | head -20 >&2 || true
  for a in $artifacts; do
    echo "  reproducer: $a   (replay: LSAN_OPTIONS=use_unaligned=1 $bin $a)" >&2
  done
done

if [[ ${#failed[@]} -gt 0 ]]; then
  echo "fuzz: ${#failed[@]} harness(es) failed: ${failed[*]}" >&2
  exit 1
fi
