#!/usr/bin/env bash
# Runs cargo against a libzmq with CURVE (docs/security.md, "Building with
# CURVE"), in a target directory of its own (target/curve), so that the
# ordinary build keeps its vendored libzmq:
#
#   scripts/cargo-curve.sh build --release -p eventstorm-router --features cli
#   scripts/cargo-curve.sh test -p eventstorm-router --features curve-tests --test curve
#   scripts/cargo-curve.sh run --release -p eventstorm-benches --bin throughput -- --curve
#
# By default it uses Debian's libzmq unpacked into .test-env/libzmq by
# scripts/services/libzmq.sh. With EVENTSTORM_CURVE_LIB_DIR set to a
# directory that holds a system libzmq.so with CURVE (for example
# /usr/lib/x86_64-linux-gnu after `apt-get install libzmq3-dev`), it links
# that one instead.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

if [[ -n "${EVENTSTORM_CURVE_LIB_DIR:-}" && -z "${EVENTSTORM_CURVE_CARGO_CONFIG:-}" ]]; then
    triple="$(rustc -vV | sed -n 's/^host: //p')"
    config="$ROOT/target/curve-cargo-config.toml"
    mkdir -p "$ROOT/target"
    printf '[target.%s.zmq]\nrustc-link-lib = ["zmq"]\nrustc-link-search = ["native=%s"]\n' \
        "$triple" "$EVENTSTORM_CURVE_LIB_DIR" >"$config"
    EVENTSTORM_CURVE_CARGO_CONFIG="$config"
fi
if [[ -z "${EVENTSTORM_CURVE_CARGO_CONFIG:-}" ]]; then
    exports="$("$ROOT/scripts/services/libzmq.sh" start)"
    [[ -n "$exports" ]] || { echo "cargo-curve.sh: no libzmq with CURVE (see above)" >&2; exit 1; }
    eval "$exports"
fi

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR_CURVE:-$ROOT/target/curve}"
export LD_LIBRARY_PATH="$EVENTSTORM_CURVE_LIB_DIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
exec cargo --config "$EVENTSTORM_CURVE_CARGO_CONFIG" "$@"
