#!/usr/bin/env bash
# Starts and stops the CQL test server (tools/cql-test-server, a CQL v4 server
# around the in-memory kassandra engine) used by the Cassandra/ScyllaDB sink's
# tests. See docs/cql-sink.md.
#
#   eval "$(scripts/services/cql.sh start)"   # exports EVENTSTORM_CQL_URI
#   cargo test -p eventstorm-sink --test cql
#   scripts/services/cql.sh stop
#
# Commands:
#   start   build the server (cargo build -p cql-test-server, in the workspace's
#           target directory), start it on a free loopback port with its data in
#           a fresh .test-env/cql-data/events.db, wait until it listens, print
#           `export EVENTSTORM_CQL_URI=127.0.0.1:PORT` and
#           `export EVENTSTORM_CQL_STARTED=true` on stdout. When it already runs,
#           prints the URI line again and `EVENTSTORM_CQL_STARTED=false`: a
#           caller stops only a server it started.
#   stop    stop the server started by `start` (no-op when none is running).
#   status  print whether the server runs, and its URI.
#   bin     build the server if needed and print the path of its binary (the
#           restart test reads it from EVENTSTORM_CQL_SERVER_BIN).
#
# Only the two export lines (or the binary path) go to stdout (they are meant
# for `eval`); progress and errors go to stderr.
set -euo pipefail

NAME=cql
ENV_VAR=EVENTSTORM_CQL_URI
START_TIMEOUT_SECS=60

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
[[ "$TARGET_DIR" = /* ]] || TARGET_DIR="$ROOT/$TARGET_DIR"
BIN="$TARGET_DIR/debug/cql-test-server"
ENV_DIR="$ROOT/.test-env"
DATA_DIR="$ENV_DIR/cql-data"
DATA_FILE="$DATA_DIR/events.db"
PID_FILE="$ENV_DIR/cql.pid"
PORT_FILE="$ENV_DIR/cql.port"
URI_FILE="$ENV_DIR/cql.uri"
LOG_FILE="$ENV_DIR/cql.log"
STATE_FILES=("$PID_FILE" "$PORT_FILE" "$URI_FILE")

# shellcheck source=common.sh
source "$ROOT/scripts/services/common.sh"

prepare() {
    log "building cql-test-server (cargo build -p cql-test-server)"
    cargo build --quiet -p cql-test-server >&2
    [[ -x "$BIN" ]] || { log "built, but $BIN is missing (CARGO_TARGET_DIR?)"; exit 1; }
}

launch() {
    # A fresh store for each server this script starts: every test uses a
    # keyspace of its own, and the server replays its whole file at start,
    # so keeping it would make each start slower than the last.
    rm -rf "$DATA_DIR"
    mkdir -p "$DATA_DIR"
    log "starting $BIN on a free loopback port (data in $DATA_FILE, log in $LOG_FILE)"
    # setsid + redirected stdio: the server must not hold the stdout of
    # `eval "$(cql.sh start)"`, or the caller would wait for it forever.
    setsid "$BIN" --listen 127.0.0.1:0 --port-file "$PORT_FILE" --data-file "$DATA_FILE" \
        >"$LOG_FILE" 2>&1 </dev/null &
    LAUNCHED_PID=$!
}

ready() {
    [[ -s "$PORT_FILE" ]] || return 1
    echo "127.0.0.1:$(cat "$PORT_FILE")" >"$URI_FILE"
}

dispatch "$@"
