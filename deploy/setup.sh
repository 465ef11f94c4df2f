#!/usr/bin/env bash
# Installs every Debian package Tally needs to build, test and run locally,
# and builds librdkafka from source into the cache (deploy/librdkafka.sh).
# Idempotent and quiet: when everything is present it only runs dpkg-query
# and looks at the cache.
# Works as root, or as an ordinary user through sudo.
#
#   deploy/setup.sh          what building and running need (up.sh)
#   deploy/setup.sh --test   also what only the tests need (tests/run.sh):
#                            clang and its runtimes for the libFuzzer
#                            harnesses, systemd for systemd-analyze,
#                            chromium (headless) for the browser test,
#                            haproxy for the broker-loss test (tests/cluster),
#                            and from the Go module proxy (cached, pinned) the
#                            Kubernetes manifest checks' tools: kustomize and
#                            the modules of tests/k8s
#   TALLY_GATEWAYS=N (N > 1) also haproxy: deploy/local/pipeline.sh puts the
#   gateways behind it
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/local/env.sh"

with_tests=0
case "${1:-}" in
  --test) with_tests=1 ;;
  "") ;;
  *) echo "setup.sh: unknown option $1 (use --test or nothing)" >&2; exit 2 ;;
esac

packages=(
  build-essential cmake pkg-config git ca-certificates curl
  libssl-dev libzstd-dev     # librdkafka's TLS and zstd (deploy/librdkafka.sh builds it)
  libavro-dev libpq-dev libcurl4-openssl-dev libcriterion-dev
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

# cargo only fetches librdkafka's source (deploy/librdkafka.sh): the one
# rustup installed will do; Debian's otherwise.
if ! command -v cargo >/dev/null 2>&1 && [[ ! -x $HOME/.cargo/bin/cargo ]]; then
  packages+=(cargo)
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

# The Kubernetes manifest checks (tests/deploy/test_k8s.sh): kustomize,
# pinned, built once from the Go module proxy into the cache, and the
# modules of the checker tests/k8s (its go.sum pins them) downloaded and
# compiled once, so that the test itself needs no network. The machine's Go
# is used as it is (GOTOOLCHAIN=local: never a toolchain download):
# kustomize v5.8.2 is the newest whose go.mod accepts Go 1.26 (v5.8.3 wants
# 1.27). Quiet when everything is in the cache.
k8s_tools() {
  local go_min=1.26 have
  command -v go >/dev/null 2>&1 ||
    { echo "setup.sh: Go $go_min or newer is needed for the Kubernetes checks (tests/k8s) and is not installed" >&2; exit 1; }
  have=$(go env GOVERSION); have=${have#go}
  [[ $(printf '%s\n' "$go_min" "$have" | sort -V | head -n1) == "$go_min" ]] ||
    { echo "setup.sh: Go $have is older than $go_min, which tests/k8s and kustomize need" >&2; exit 1; }
  local bin=$TALLY_CACHE/go-bin kustomize=$TALLY_KUSTOMIZE_VERSION log
  log=$TALLY_CACHE/go-tools.log
  mkdir -p "$bin"
  if [[ ! -x $bin/kustomize-$kustomize ]]; then
    echo "setup.sh: building kustomize $kustomize (Go module proxy, once)" >&2
    GOTOOLCHAIN=local GOBIN=$bin/tmp go install "sigs.k8s.io/kustomize/kustomize/v5@$kustomize" >"$log" 2>&1 ||
      { tail -n 20 "$log" >&2; echo "setup.sh: kustomize $kustomize did not build (log: $log)" >&2; exit 1; }
    mv "$bin/tmp/kustomize" "$bin/kustomize-$kustomize" && rmdir "$bin/tmp"
  fi
  local stamp=$bin/k8scheck.stamp sum
  sum=$(cat "$TALLY_ROOT/tests/k8s/go.mod" "$TALLY_ROOT/tests/k8s/go.sum" "$(command -v go)" | sha256sum | cut -c1-64)
  if [[ $(cat "$stamp" 2>/dev/null) != "$sum" ]]; then
    echo "setup.sh: fetching and compiling the modules of tests/k8s (Go module proxy, once)" >&2
    (cd "$TALLY_ROOT/tests/k8s" && GOTOOLCHAIN=local GOFLAGS=-mod=readonly go mod download &&
      GOTOOLCHAIN=local GOFLAGS=-mod=readonly go build -o /dev/null .) >"$log" 2>&1 ||
      { tail -n 20 "$log" >&2; echo "setup.sh: tests/k8s did not build (log: $log)" >&2; exit 1; }
    echo "$sum" >"$stamp"
  fi
}

apt_install() {
  local sudo
  if [[ $(id -u) -eq 0 ]]; then
    sudo=()
  elif command -v sudo >/dev/null 2>&1; then
    sudo=(sudo)
  else
    echo "setup.sh: missing packages ($*) and neither root nor sudo" >&2
    exit 1
  fi
  echo "setup.sh: installing $*" >&2
  export DEBIAN_FRONTEND=noninteractive
  # Refresh the package lists once per machine (or when they are older than a day).
  local stamp=/var/lib/apt/periodic/tally-update-stamp
  if [[ ! -f $stamp ]] || [[ -n $(find "$stamp" -mmin +1440 2>/dev/null) ]]; then
    "${sudo[@]}" apt-get update -qq >/dev/null
    "${sudo[@]}" mkdir -p "$(dirname "$stamp")"
    "${sudo[@]}" touch "$stamp"
  fi
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

if [[ ${#missing[@]} -gt 0 ]]; then
  apt_install "${missing[@]}"
  # Debian starts a default cluster on 5432; Tally runs its own, so leave the
  # system one alone but do not require it.
  echo "setup.sh: done" >&2
fi

# librdkafka from source, once per version (cached; silent when there).
# Debian's 2.0.2 lacks fixes the engine relies on (docs/architecture.md): it
# is only the fallback when the build fails, and that is said loudly here,
# by CMake and in every process's startup log and /metrics.
if ! "$(dirname "${BASH_SOURCE[0]}")/librdkafka.sh"; then
  {
    echo "setup.sh: ################################################################"
    echo "setup.sh: WARNING: building librdkafka from source FAILED (see above);"
    echo "setup.sh: WARNING: falling back to Debian's librdkafka-dev, an older"
    echo "setup.sh: WARNING: release WITHOUT fixes Tally relies on. Fix the build."
    echo "setup.sh: ################################################################"
  } >&2
  status=$(dpkg-query -W -f='${db:Status-Abbrev}' librdkafka-dev 2>/dev/null || true)
  [[ "$status" == ii* ]] || apt_install librdkafka-dev
fi

# The test-only Go tools (quiet when cached).
[[ $with_tests -eq 0 ]] || k8s_tools
