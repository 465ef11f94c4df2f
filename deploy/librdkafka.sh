#!/usr/bin/env bash
# Builds librdkafka from source (the C library only, static) into the cache,
# once per version, for CMake to link instead of Debian's older one
# (cmake/librdkafka.cmake finds it through its pkg-config file).
#
#   deploy/librdkafka.sh     build TALLY_LIBRDKAFKA_VERSION into
#                            $TALLY_CACHE/librdkafka-<version> unless there
#                            already; prints nothing then
#
# The source is the one the Rust crate rdkafka-sys vendors (its folder
# librdkafka/): `cargo fetch` on a throwaway manifest brings it from
# crates.io into cargo's registry cache, so nothing is downloaded but a
# registry package. deploy/setup.sh calls this and falls back to Debian's
# librdkafka-dev, loudly, when it fails.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/local/env.sh"

version=$TALLY_LIBRDKAFKA_VERSION
crate_version=$TALLY_LIBRDKAFKA_CRATE
prefix=$TALLY_LIBRDKAFKA_PREFIX
[[ -f $prefix/.complete ]] && exit 0
# One build at a time per cache (setup.sh of two worktrees at once): the
# second waits, then finds it done.
mkdir -p "$TALLY_CACHE"
exec 9>"$TALLY_CACHE/librdkafka-$version.lock"
flock 9
[[ -f $prefix/.complete ]] && exit 0

cargo=$(command -v cargo || true)
[[ -n $cargo ]] || { [[ -x $HOME/.cargo/bin/cargo ]] && cargo=$HOME/.cargo/bin/cargo; }
[[ -n $cargo ]] || tally_die "librdkafka: cargo not found (deploy/setup.sh installs Debian's)"

t0=$SECONDS
work=$(mktemp -d "${TMPDIR:-/tmp}/tally-librdkafka.XXXXXX")
trap 'rm -rf "$work"' EXIT
log=$TALLY_CACHE/librdkafka-$version.log
: >"$log"

# A manifest whose only dependency is the crate, at exactly the version
# that vendors this librdkafka; fetch only downloads, builds nothing.
mkdir -p "$work/fetch/src"
cat >"$work/fetch/Cargo.toml" <<TOML
[package]
name = "tally-librdkafka-fetch"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
rdkafka-sys = { version = "=${crate_version%%+*}", default-features = false }
TOML
echo 'fn main() {}' >"$work/fetch/src/main.rs"
tally_log "librdkafka: fetching the crate rdkafka-sys $crate_version (it vendors librdkafka $version)"
"$cargo" fetch --manifest-path "$work/fetch/Cargo.toml" >>"$log" 2>&1 ||
  { tail -n 20 "$log" >&2; tally_die "librdkafka: cargo fetch failed (log: $log)"; }

cargo_home=${CARGO_HOME:-$HOME/.cargo}
src=
for d in "$cargo_home"/registry/src/*/"rdkafka-sys-$crate_version"/librdkafka; do
  [[ -f $d/src/rdkafka.h ]] && src=$d
done
[[ -n $src ]] || tally_die "librdkafka: no rdkafka-sys-$crate_version/librdkafka under $cargo_home/registry/src"
# The crate's version names the library's; check the header says so too.
grep -q "^#define RD_KAFKA_VERSION 0x$(printf '%02x%02x%02x' ${version//./ })ff" "$src/src/rdkafka.h" ||
  tally_die "librdkafka: $src/src/rdkafka.h is not version $version"

# Built in a copy: the registry cache stays as cargo left it.
cp -r "$src" "$work/librdkafka"
cd "$work/librdkafka"
tally_log "librdkafka: building $version into $prefix (log: $log)"
# SSL, zstd and zlib from Debian (deploy/setup.sh installs the -dev
# packages), required rather than tried so that a build never quietly lacks
# them; lz4 and regex are builtin. No GSSAPI, no libcurl (OIDC only), no
# module downloads; static library only (-fPIC as built) so the binaries
# need no run-time path to the cache.
nice -n 19 ./configure --no-download --prefix="$prefix" --disable-gssapi --disable-curl \
  --enable-ssl --enable-zstd --enable-zlib --disable-lz4-ext >>"$log" 2>&1 ||
  { tail -n 30 "$log" >&2; tally_die "librdkafka: configure failed (log: $log)"; }
nice -n 19 make -C src -j2 lib >>"$log" 2>&1 ||
  { tail -n 30 "$log" >&2; tally_die "librdkafka: build failed (log: $log)"; }
rm -rf "$prefix"
nice -n 19 make -C src install >>"$log" 2>&1 ||
  { tail -n 30 "$log" >&2; tally_die "librdkafka: install failed (log: $log)"; }
# Only the archive: with the shared library beside it, -lrdkafka would
# pick that one, and the binaries would need the cache at run time.
rm -f "$prefix"/lib/librdkafka*.so*
touch "$prefix/.complete"
tally_log "librdkafka: $version built in $((SECONDS - t0)) s"
