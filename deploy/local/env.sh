# Sourced by the local scripts: where things are and how to reach them.
# Every value can be overridden from the environment.
TALLY_ROOT=${TALLY_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
TALLY_STATE=${TALLY_STATE:-$TALLY_ROOT/.state}
TALLY_CACHE=${TALLY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tally}
TALLY_BUILD_DIR=${TALLY_BUILD_DIR:-$TALLY_ROOT/build}
TALLY_KAFKA_VERSION=${TALLY_KAFKA_VERSION:-4.1.1}
# kustomize for the manifest checks (deploy/setup.sh --test builds it into
# $TALLY_CACHE/go-bin; tests/deploy/test_k8s.sh runs it).
TALLY_KUSTOMIZE_VERSION=${TALLY_KUSTOMIZE_VERSION:-v5.8.2}
# librdkafka, built from source by deploy/librdkafka.sh (from the crate
# rdkafka-sys that vendors it) and linked statically from the cache.
TALLY_LIBRDKAFKA_VERSION=${TALLY_LIBRDKAFKA_VERSION:-2.12.1}
TALLY_LIBRDKAFKA_CRATE=${TALLY_LIBRDKAFKA_CRATE:-4.10.0+$TALLY_LIBRDKAFKA_VERSION}
TALLY_LIBRDKAFKA_PREFIX=${TALLY_LIBRDKAFKA_PREFIX:-$TALLY_CACHE/librdkafka-$TALLY_LIBRDKAFKA_VERSION}
TALLY_BROKERS=${TALLY_BROKERS:-127.0.0.1:19092}
# 1: one KRaft node (the default, up.sh). N > 1: a local cluster of N nodes
# (kafka.sh); TALLY_BROKERS then lists all of them, and a single host:port
# given stands for the first of N consecutive ports.
TALLY_KAFKA_NODES=${TALLY_KAFKA_NODES:-1}
if [[ $TALLY_KAFKA_NODES -gt 1 && $TALLY_BROKERS != *,* ]]; then
  _tally_host=${TALLY_BROKERS%:*} _tally_port=${TALLY_BROKERS##*:} TALLY_BROKERS=
  for ((_tally_i = 0; _tally_i < TALLY_KAFKA_NODES; _tally_i++)); do
    TALLY_BROKERS+=${TALLY_BROKERS:+,}$_tally_host:$((_tally_port + _tally_i))
  done
  unset _tally_host _tally_port _tally_i
fi
TALLY_PG_HOST=${TALLY_PG_HOST:-127.0.0.1}
TALLY_PG_PORT=${TALLY_PG_PORT:-55432}
TALLY_PG_DB=${TALLY_PG_DB:-tally}
# The superuser: migrations (tally-migrate) and operator checks only.
TALLY_PG_URL=${TALLY_PG_URL:-postgresql://postgres@$TALLY_PG_HOST:$TALLY_PG_PORT/$TALLY_PG_DB}
# Each process's own role (deploy/postgres/migrations/0007_roles.sql); the
# local cluster trusts 127.0.0.1, so no password.
TALLY_PG_MATERIALIZER_URL=${TALLY_PG_MATERIALIZER_URL:-postgresql://tally_materializer@$TALLY_PG_HOST:$TALLY_PG_PORT/$TALLY_PG_DB}
TALLY_PG_GATEWAY_URL=${TALLY_PG_GATEWAY_URL:-postgresql://tally_gateway@$TALLY_PG_HOST:$TALLY_PG_PORT/$TALLY_PG_DB}
TALLY_PG_READER_URL=${TALLY_PG_READER_URL:-postgresql://tally_reader@$TALLY_PG_HOST:$TALLY_PG_PORT/$TALLY_PG_DB}
export TALLY_ROOT TALLY_STATE TALLY_CACHE TALLY_BUILD_DIR TALLY_KAFKA_VERSION TALLY_KUSTOMIZE_VERSION \
       TALLY_LIBRDKAFKA_VERSION TALLY_LIBRDKAFKA_CRATE TALLY_LIBRDKAFKA_PREFIX \
       TALLY_BROKERS TALLY_KAFKA_NODES TALLY_PG_HOST TALLY_PG_PORT TALLY_PG_DB TALLY_PG_URL \
       TALLY_PG_MATERIALIZER_URL TALLY_PG_GATEWAY_URL TALLY_PG_READER_URL

tally_log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
tally_die() { printf 'error: %s\n' "$*" >&2; exit 1; }
# True while process $1 exists and is not a zombie (a killed daemon whose
# parent was init may stay a zombie when pid 1 does not reap). A zombie
# main thread whose other threads are still exiting (a JVM after SIGKILL)
# still holds its files and ports: alive.
tally_alive() {
  local s tasks
  s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  s=${s##*) }
  [[ ${s:0:1} != Z ]] && return 0
  tasks=(/proc/"$1"/task/*)
  [[ ${#tasks[@]} -gt 1 ]]
}
# Waits up to 30 s until nothing listens on TCP port $1; false if something still does.
tally_port_released() {
  local _
  for _ in $(seq 1 300); do
    ss -ltn "sport = :$1" 2>/dev/null | grep -q LISTEN || return 0
    sleep 0.1
  done
  return 1
}

# Configure (once) and build the given targets (all when none) in TALLY_BUILD_DIR.
# A build dir configured while the cache had no librdkafka build (or
# another one) is configured again, so it links the one there now.
tally_build() {
  local linked=system
  [[ -f $TALLY_LIBRDKAFKA_PREFIX/.complete ]] && linked=$TALLY_LIBRDKAFKA_PREFIX
  if [[ ! -f $TALLY_BUILD_DIR/CMakeCache.txt ]] ||
     ! grep -qxF "TALLY_LIBRDKAFKA_LINKED:INTERNAL=$linked" "$TALLY_BUILD_DIR/CMakeCache.txt"; then
    cmake -S "$TALLY_ROOT" -B "$TALLY_BUILD_DIR" ${TALLY_CMAKE_FLAGS:-} >/dev/null ||
      tally_die "cmake configure failed in $TALLY_BUILD_DIR"
  fi
  local targets=()
  for t in "$@"; do targets+=(--target "$t"); done
  cmake --build "$TALLY_BUILD_DIR" -j"$(nproc)" "${targets[@]}" >"$TALLY_BUILD_DIR/build.log" 2>&1 || {
    tail -n 40 "$TALLY_BUILD_DIR/build.log" >&2
    tally_die "build failed (full log: $TALLY_BUILD_DIR/build.log)"
  }
}
