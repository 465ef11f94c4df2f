#!/usr/bin/env bash
# Installs every Debian package Tally needs to build, test and run locally.
# Idempotent and quiet: when everything is present it only runs dpkg-query.
# Works as root, or as an ordinary user through sudo.
#
#   deploy/setup.sh          what building and running need (up.sh)
#   deploy/setup.sh --test   also what only the tests need (tests/run.sh):
#                            clang and its runtimes for the libFuzzer
#                            harnesses, systemd for systemd-analyze,
#                            chromium (headless) for the browser test,
#                            haproxy for the broker-loss test (tests/cluster)
#   TALLY_GATEWAYS=N (N > 1) also haproxy: deploy/local/pipeline.sh puts the
#   gateways behind it
set -euo pipefail

with_tests=0
case "${1:-}" in
  --test) with_tests=1 ;;
  "") ;;
  *) echo "setup.sh: unknown option $1 (use --test or nothing)" >&2; exit 2 ;;
esac

packages=(
  build-essential cmake pkg-config git ca-certificates curl
  librdkafka-dev libavro-dev libpq-dev libcurl4-openssl-dev libcriterion-dev
  libmicrohttpd-dev libjansson-dev libsodium-dev libpcre2-dev zlib1g-dev
  postgresql-15 postgresql-client-15
  openjdk-17-jre-headless maven
  wrk procps iproute2 util-linux
)
# Tools only the tests use (deploy/setup.sh --test, as tests/run.sh calls it).
if [[ $with_tests -eq 1 ]]; then
  packages+=(
    clang libclang-rt-14-dev   # the libFuzzer harnesses of tests/fuzz
    systemd                    # systemd-analyze verify, in tests/deploy/test_systemd.sh
    chromium                   # headless, for the console's browser test (tests/browser)
    linux-perf                 # profiles behind the benchmarks (perf record -p on tests/bench/*.sh)
    haproxy                    # the load balancer in front of the gateways (tests/cluster)
  )
elif [[ ${TALLY_GATEWAYS:-1} -gt 1 ]]; then
  packages+=(haproxy)          # deploy/local/pipeline.sh: several gateways behind it
fi

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
  [[ "$status" == ii* ]] || missing+=("$p")
done
# Java may come from another JDK already on the machine (a newer one is fine).
if command -v java >/dev/null 2>&1; then
  missing=("${missing[@]/openjdk-17-jre-headless}")
fi
filtered=()
for p in "${missing[@]}"; do [[ -n "$p" ]] && filtered+=("$p"); done
missing=("${filtered[@]+"${filtered[@]}"}")

if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi

if [[ $(id -u) -eq 0 ]]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1; then
  sudo=(sudo)
else
  echo "setup.sh: missing packages (${missing[*]}) and neither root nor sudo" >&2
  exit 1
fi

echo "setup.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# Refresh the package lists once per machine (or when they are older than a day).
stamp=/var/lib/apt/periodic/tally-update-stamp
if [[ ! -f $stamp ]] || [[ -n $(find "$stamp" -mmin +1440 2>/dev/null) ]]; then
  "${sudo[@]}" apt-get update -qq >/dev/null
  "${sudo[@]}" mkdir -p "$(dirname "$stamp")"
  "${sudo[@]}" touch "$stamp"
fi
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian starts a default cluster on 5432; Tally runs its own, so leave the
# system one alone but do not require it.
echo "setup.sh: done" >&2
