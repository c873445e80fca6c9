#!/usr/bin/env bash
# Starts and stops the MongoDB-compatible test server (SecantusDB) used by the
# MongoDB sink's tests. See docs/mongo-sink.md.
#
#   eval "$(scripts/services/mongo.sh start)"   # exports EVENTSTORM_MONGODB_URI
#   cargo test -p eventstorm-sink --test mongo
#   scripts/services/mongo.sh stop
#
# Commands:
#   start   install the server into .test-env/venv-mongo if missing, start it on a
#           free loopback port (data in .test-env/mongo-data), wait until it
#           accepts connections, print EVENTSTORM_MONGODB_URI=... on stdout.
#           When it is already running, only prints the line again.
#   stop    stop the server started by `start` (no-op when none is running).
#   status  print whether the server runs, and its URI.
#   bin     install the server if missing and print the path of its binary.
#
# Only the EVENTSTORM_MONGODB_URI line goes to stdout (it is meant for `eval`);
# progress and errors go to stderr.
set -euo pipefail

SECANTUS_VERSION="0.7.0b3"
START_TIMEOUT_SECS=60

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

ENV_DIR="$ROOT/.test-env"
VENV="$ENV_DIR/venv-mongo"
BIN="$VENV/bin/secantusd-py"
DATA="$ENV_DIR/mongo-data"
PID_FILE="$ENV_DIR/mongo.pid"
URI_FILE="$ENV_DIR/mongo.uri"
LOG_FILE="$ENV_DIR/mongo.log"

log() { echo "mongo.sh: $*" >&2; }

install() {
    if [[ -x "$BIN" ]] && "$VENV/bin/pip" show secantusdb 2>/dev/null | grep -qx "Version: $SECANTUS_VERSION"; then
        return 0
    fi
    mkdir -p "$ENV_DIR"
    log "installing secantusdb==$SECANTUS_VERSION into $VENV"
    [[ -x "$VENV/bin/pip" ]] || python3 -m venv "$VENV" >&2
    "$VENV/bin/pip" install --quiet "secantusdb==$SECANTUS_VERSION" >&2
    [[ -x "$BIN" ]] || { log "secantusdb installed but $BIN is missing"; exit 1; }
}

running_pid() {
    # Prints the pid of the server started by `start`, if it still runs.
    [[ -f "$PID_FILE" ]] || return 1
    local pid
    pid="$(cat "$PID_FILE")"
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 1
    echo "$pid"
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

accepts() {
    # True when something accepts TCP connections on 127.0.0.1:$1.
    python3 - "$1" <<'PY' 2>/dev/null
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1)
s.close()
PY
}

start() {
    local pid
    if pid="$(running_pid)" && [[ -f "$URI_FILE" ]]; then
        log "already running (pid $pid)"
        echo "export EVENTSTORM_MONGODB_URI=$(cat "$URI_FILE")"
        return 0
    fi
    install
    mkdir -p "$DATA"
    rm -f "$PID_FILE" "$URI_FILE"
    local port
    port="$(free_port)"
    log "starting $BIN on 127.0.0.1:$port (data in $DATA, log in $LOG_FILE)"
    # setsid + redirected stdio: the server must not hold the stdout of
    # `eval "$(mongo.sh start)"`, or the caller would wait for it forever.
    setsid "$BIN" --host 127.0.0.1 --port "$port" --storage-path "$DATA" --standalone \
        >"$LOG_FILE" 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$PID_FILE"
    local deadline=$((SECONDS + START_TIMEOUT_SECS))
    until accepts "$port"; do
        if ! kill -0 "$pid" 2>/dev/null; then
            log "server exited during start-up; last lines of $LOG_FILE:"
            tail -n 20 "$LOG_FILE" >&2 || true
            rm -f "$PID_FILE"
            exit 1
        fi
        if ((SECONDS >= deadline)); then
            log "server did not accept connections within ${START_TIMEOUT_SECS}s"
            kill "$pid" 2>/dev/null || true
            rm -f "$PID_FILE"
            exit 1
        fi
        sleep 0.1
    done
    echo "mongodb://127.0.0.1:$port" >"$URI_FILE"
    log "ready (pid $pid)"
    echo "export EVENTSTORM_MONGODB_URI=mongodb://127.0.0.1:$port"
}

stop() {
    local pid
    if ! pid="$(running_pid)"; then
        log "not running"
        rm -f "$PID_FILE" "$URI_FILE"
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
    rm -f "$PID_FILE" "$URI_FILE"
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
    install
    echo "$BIN"
    ;;
*)
    echo "usage: $0 start|stop|status|bin" >&2
    exit 2
    ;;
esac
