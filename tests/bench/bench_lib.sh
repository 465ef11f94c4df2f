# Sourced by the tests/bench scripts: the helpers they share.

# Peak resident set size (VmHWM) of the running process $1, in KiB; empty
# once the process is gone. Read it before stopping the process.
bench_vmhwm_kib() { awk '$1 == "VmHWM:" { print $2 }' "/proc/$1/status" 2>/dev/null || true; }

# Prints one line: the peak RSS of $1 over the rounds, from the VmHWM values
# (KiB) $4..., against the target $2 MiB, at $3 records of backlog; MISSED
# when over the target or when no value was read.
bench_print_peak() {
  local name=$1 target_mib=$2 backlog=$3
  shift 3
  printf '%s\n' "$@" | awk -v name="$name" -v t="$target_mib" -v n="$backlog" '
    $1 ~ /^[0-9]+$/ { k++; if ($1 > max) max = $1; list = list (list == "" ? "" : ", ") sprintf("%.1f", $1 / 1024) }
    END {
      if (!k) { printf "peak RSS       %s: not read (target < %d MiB): MISSED\n", name, t; exit }
      printf "peak RSS       %s: VmHWM %.1f MiB at %d records of backlog (rounds: %s MiB; target < %d MiB): %s\n",
             name, max / 1024, n, list, t, (max / 1024 < t ? "ok" : "MISSED")
    }'
}

# psql itself: Debian's /usr/bin/psql is a Perl wrapper that costs ~40 ms of
# CPU per call, which a poll loop would take from the process it times.
bench_psql_bin() {
  local b
  for b in /usr/lib/postgresql/15/bin/psql "$(command -v psql)"; do
    [[ -x $b ]] && { echo "$b"; return; }
  done
  echo psql
}
