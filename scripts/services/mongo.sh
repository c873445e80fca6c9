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
#           accepts connections, print `export EVENTSTORM_MONGODB_URI=...` and
#           `export EVENTSTORM_MONGODB_STARTED=true` on stdout. When it is
#           already running, prints the URI line again and
#           `EVENTSTORM_MONGODB_STARTED=false`: a caller stops only a server it
#           started.
#   stop    stop the server started by `start` (no-op when none is running).
#   status  print whether the server runs, and its URI.
#   bin     install the server if missing and print the path of its binary.
#
# Only the two export lines go to stdout (they are meant for `eval`);
# progress and errors go to stderr.
set -euo pipefail

NAME=mongo
ENV_VAR=EVENTSTORM_MONGODB_URI
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
STATE_FILES=("$PID_FILE" "$URI_FILE")

# shellcheck source=common.sh
source "$ROOT/scripts/services/common.sh"

prepare() {
    if [[ -x "$BIN" ]] && "$VENV/bin/pip" show secantusdb 2>/dev/null | grep -qx "Version: $SECANTUS_VERSION"; then
        return 0
    fi
    mkdir -p "$ENV_DIR"
    log "installing secantusdb==$SECANTUS_VERSION into $VENV"
    [[ -x "$VENV/bin/pip" ]] || python3 -m venv "$VENV" >&2
    "$VENV/bin/pip" install --quiet "secantusdb==$SECANTUS_VERSION" >&2
    [[ -x "$BIN" ]] || { log "secantusdb installed but $BIN is missing"; exit 1; }
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

launch() {
    mkdir -p "$DATA"
    PORT="$(free_port)"
    log "starting $BIN on 127.0.0.1:$PORT (data in $DATA, log in $LOG_FILE)"
    # setsid + redirected stdio: the server must not hold the stdout of
    # `eval "$(mongo.sh start)"`, or the caller would wait for it forever.
    setsid "$BIN" --host 127.0.0.1 --port "$PORT" --storage-path "$DATA" --standalone \
        >"$LOG_FILE" 2>&1 </dev/null &
    LAUNCHED_PID=$!
}

ready() {
    # True when the server accepts TCP connections.
    python3 - "$PORT" <<'PY' 2>/dev/null || return 1
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1)
s.close()
PY
    echo "mongodb://127.0.0.1:$PORT" >"$URI_FILE"
}

dispatch "$@"
