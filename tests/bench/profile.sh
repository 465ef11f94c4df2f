#!/usr/bin/env bash
# The top of a CPU profile of one pipeline process while a benchmark drives it:
#
#   tests/bench/profile.sh PATTERN [SECONDS [TOP]]     (defaults 20 s, top 25)
#
# Samples every CPU with perf (cpu-clock, 499 Hz, call graphs) for SECONDS,
# then prints the TOP symbols by self time of the threads whose command name
# matches PATTERN (an extended regular expression on perf's comm column: the
# first 15 characters of a thread's name, e.g. 'tally-aggregat|rdk:' or
# 'MHD-worker'), with each one's share of that process's samples, and the
# share of all samples the process took. Run it in a second terminal while a
# benchmark round runs, e.g.
#   tests/bench/aggregator.sh & sleep 40; tests/bench/profile.sh tally-aggregat 20
# System-wide sampling is used so that a process restarted by each round is
# still caught. Needs perf (Debian linux-perf: deploy/setup.sh --test).
set -euo pipefail
pattern=${1:?usage: tests/bench/profile.sh PATTERN [SECONDS [TOP]]}
seconds=${2:-20}
top=${3:-25}
[[ $seconds =~ ^[0-9]+$ && $seconds -ge 1 && $seconds -le 600 ]] || { echo "SECONDS: 1..600" >&2; exit 2; }
[[ $top =~ ^[0-9]+$ && $top -ge 1 ]] || { echo "TOP: a positive number" >&2; exit 2; }
command -v perf >/dev/null || { echo "perf not found (Debian linux-perf; deploy/setup.sh --test installs it)" >&2; exit 1; }
data=$(mktemp /tmp/tally-profile.XXXXXX)
trap 'rm -f "$data" "$data.old"' EXIT
perf record -q -e cpu-clock -F 499 -a -g -o "$data" -- sleep "$seconds" >/dev/null 2>&1 ||
  { echo "perf record failed" >&2; exit 1; }
# comm, self %, symbol: one line per (comm, dso, symbol), shares of all samples.
perf report -i "$data" --no-children --sort comm,dso,sym --stdio -g none 2>/dev/null |
  awk -v pat="$pattern" '
    /^#/ || NF < 4 { next }
    {
      pct = $1; sub(/%$/, "", pct)
      if ($2 !~ pat) next
      sym = ""; for (i = 5; i <= NF; i++) sym = sym (i > 5 ? " " : "") $i
      share[sym " (" $3 ")"] += pct; total += pct
    }
    END {
      printf "%.4f total\n", total
      for (k in share) printf "%.4f %s\n", share[k], k
    }' | sort -rn >"$data.old"
total=$(awk '$2 == "total" { print $1 }' "$data.old")
awk -v t="$total" 'BEGIN { exit !(t > 0) }' ||
  { echo "no samples of a thread matching /$pattern/" >&2; exit 1; }
printf 'threads matching /%s/: %.1f%% of all samples over %s s; self time, share of those:\n' "$pattern" "$total" "$seconds"
awk -v t="$total" -v n="$top" '$2 != "total" && k++ < n {
  printf "%6.1f%%  ", 100 * $1 / t; $1 = ""; sub(/^ /, ""); print }' "$data.old"
