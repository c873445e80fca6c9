#!/usr/bin/env bash
# Provides a libzmq with CURVE for the CURVE build: Debian's libzmq (4.3.4,
# the version the `zmq` crate vendors, built with libsodium), unpacked into
# the git-ignored .test-env/ with `apt-get download` and `dpkg -x`, and a
# cargo configuration that links it instead of building the vendored copy
# (which has no CURVE). Nothing is installed system-wide.
#
#   eval "$(scripts/services/libzmq.sh start)"
#   scripts/cargo-curve.sh test -p eventstorm-router --features curve-tests --test curve
#
# Commands:
#   start   unpack libzmq into .test-env/libzmq if missing and print
#           `export EVENTSTORM_CURVE_CARGO_CONFIG=...` (the cargo
#           configuration file, for `cargo --config`) and
#           `export EVENTSTORM_CURVE_LIB_DIR=...` (the directory that holds
#           libzmq.so, for LD_LIBRARY_PATH). Where the packages cannot be
#           downloaded (no apt, no network), it says so on stderr and prints
#           nothing, unless CI=true: then it fails.
#   stop    nothing to stop (accepted so that every service script has it).
#   status  print whether it is installed.
#
# Only the export lines go to stdout (they are meant for `eval`); progress
# and errors go to stderr.
set -euo pipefail

NAME=libzmq
# libzmq with CURVE and the libraries it needs beyond a base Debian 12
# (bookworm) system; libzmq3-dev holds the `libzmq.so` the linker looks for.
PACKAGES=(libzmq3-dev libzmq5 libsodium23 libnorm1 libpgm-5.3-0)

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

DIR="$ROOT/.test-env/libzmq"
TREE="$DIR/root"
CONFIG="$DIR/cargo-config.toml"

log() { echo "$NAME.sh: $*" >&2; }

lib_dir() {
    local lib
    lib="$(find "$TREE" -name 'libzmq.so' -print -quit 2>/dev/null)"
    [[ -n "$lib" ]] && dirname "$lib"
}

installed() {
    [[ -f "$CONFIG" ]] && [[ -n "$(lib_dir)" ]]
}

install() {
    command -v apt-get >/dev/null && command -v dpkg >/dev/null ||
        { log "apt-get and dpkg are needed to unpack Debian's libzmq"; return 1; }
    local debs="$DIR/debs"
    rm -rf "$debs" "$TREE" "$CONFIG"
    mkdir -p "$debs" "$TREE"
    log "downloading ${PACKAGES[*]}"
    (cd "$debs" && apt-get download "${PACKAGES[@]}" >&2) ||
        { log "apt-get download failed (try apt-get update)"; return 1; }
    for deb in "$debs"/*.deb; do
        dpkg -x "$deb" "$TREE"
    done
    local libs triple
    libs="$(lib_dir)" || { log "libzmq.so is not in the unpacked packages"; return 1; }
    triple="$(rustc -vV | sed -n 's/^host: //p')"
    # The link arguments name the unpacked libraries' directory twice: for
    # the linker (-L) and for the libraries libzmq itself needs (-rpath-link);
    # LD_LIBRARY_PATH finds them when the programs run.
    cat >"$CONFIG" <<TOML
# Written by scripts/services/libzmq.sh: link the unpacked Debian libzmq (with
# CURVE) instead of building the vendored one. Use it with a target directory
# of its own (scripts/cargo-curve.sh does), or switching rebuilds libzmq.
[target.$triple.zmq]
rustc-link-lib = ["zmq"]
rustc-link-search = ["native=$libs"]

[target.$triple]
rustflags = ["-C", "link-arg=-Wl,-rpath-link,$libs"]
TOML
    rm -rf "$debs"
}

prepare() {
    installed && return 0
    mkdir -p "$DIR"
    install
}

case "${1:-}" in
start)
    if ! prepare; then
        if [[ "${CI:-}" == true ]]; then
            log "libzmq with CURVE could not be installed and CI=true: failing"
            exit 1
        fi
        log "libzmq with CURVE could not be installed: the CURVE build is not available"
        exit 0
    fi
    log "ready: $(lib_dir)/libzmq.so"
    echo "export EVENTSTORM_CURVE_CARGO_CONFIG=$CONFIG"
    echo "export EVENTSTORM_CURVE_LIB_DIR=$(lib_dir)"
    ;;
stop) log "nothing to stop" ;;
status)
    if installed; then echo "installed at $(lib_dir)"; else echo "not installed"; fi
    ;;
*)
    echo "usage: $0 start|stop|status" >&2
    exit 2
    ;;
esac
