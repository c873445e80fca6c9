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
#           .test-env/cql-data/events.db, wait until it listens, print
#           EVENTSTORM_CQL_URI=127.0.0.1:PORT on stdout. When it already runs,
#           only prints the line again.
#   stop    stop the server started by `start` (no-op when none is running).
#   status  print whether the server runs, and its URI.
#   bin     build the server if needed and print the path of its binary (the
#           restart test reads it from EVENTSTORM_CQL_SERVER_BIN).
#
# Only the EVENTSTORM_CQL_URI line (or the binary path) goes to stdout (it is
# meant for `eval`); progress and errors go to stderr.
set -euo pipefail

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

log() { echo "cql.sh: $*" >&2; }

build() {
    log "building cql-test-server (cargo build -p cql-test-server)"
    cargo build --quiet -p cql-test-server >&2
    [[ -x "$BIN" ]] || { log "built, but $BIN is missing (CARGO_TARGET_DIR?)"; exit 1; }
}

running_pid() {
    # Prints the pid of the server started by `start`, if it still runs.
    [[ -f "$PID_FILE" ]] || return 1
    local pid
    pid="$(cat "$PID_FILE")"
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 1
    echo "$pid"
}

start() {
    local pid
    if pid="$(running_pid)" && [[ -f "$URI_FILE" ]]; then
        log "already running (pid $pid)"
        echo "EVENTSTORM_CQL_URI=$(cat "$URI_FILE")"
        return 0
    fi
    build
    mkdir -p "$DATA_DIR"
    rm -f "$PID_FILE" "$PORT_FILE" "$URI_FILE"
    log "starting $BIN on a free loopback port (data in $DATA_FILE, log in $LOG_FILE)"
    # setsid + redirected stdio: the server must not hold the stdout of
    # `eval "$(cql.sh start)"`, or the caller would wait for it forever.
    setsid "$BIN" --listen 127.0.0.1:0 --port-file "$PORT_FILE" --data-file "$DATA_FILE" \
        >"$LOG_FILE" 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$PID_FILE"
    local deadline=$((SECONDS + START_TIMEOUT_SECS))
    until [[ -s "$PORT_FILE" ]]; do
        if ! kill -0 "$pid" 2>/dev/null; then
            log "server exited during start-up; last lines of $LOG_FILE:"
            tail -n 20 "$LOG_FILE" >&2 || true
            rm -f "$PID_FILE"
            exit 1
        fi
        if ((SECONDS >= deadline)); then
            log "server did not listen within ${START_TIMEOUT_SECS}s"
            kill "$pid" 2>/dev/null || true
            rm -f "$PID_FILE"
            exit 1
        fi
        sleep 0.1
    done
    echo "127.0.0.1:$(cat "$PORT_FILE")" >"$URI_FILE"
    log "ready (pid $pid)"
    echo "EVENTSTORM_CQL_URI=$(cat "$URI_FILE")"
}

stop() {
    local pid
    if ! pid="$(running_pid)"; then
        log "not running"
        rm -f "$PID_FILE" "$PORT_FILE" "$URI_FILE"
        return 0
    fi
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "pid $pid did not stop within 10s; killing it"
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$PID_FILE" "$PORT_FILE" "$URI_FILE"
    log "stopped (pid $pid)"
}

status() {
    local pid
    if pid="$(running_pid)"; then
        echo "running (pid $pid) at $(cat "$URI_FILE" 2>/dev/null || echo '?')"
    else
        echo "not running"
    fi
}

case "${1:-}" in
start) start ;;
stop) stop ;;
status) status ;;
bin)
    build
    echo "$BIN"
    ;;
*)
    echo "usage: $0 start|stop|status|bin" >&2
    exit 2
    ;;
esac
