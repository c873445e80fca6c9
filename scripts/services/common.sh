# Shared by the test-server scripts beside this file (sourced, not run).
#
# A script sets NAME, ENV_VAR, BIN, PID_FILE, URI_FILE, LOG_FILE, STATE_FILES
# (files removed on stop) and START_TIMEOUT_SECS, defines `prepare` (install
# or build the server), `launch` (start it in the background, stdio
# redirected to $LOG_FILE, and set LAUNCHED_PID) and `ready` (true once it
# serves; it may write $URI_FILE), then calls `dispatch "$@"`.
#
# Only `export VAR=value` lines go to stdout, for `eval "$(script start)"`;
# progress and errors go to stderr. `start` prints two: the server's address
# ($ENV_VAR) and whether this call started it ($STARTED_VAR, `true` or
# `false` when a server started earlier from this checkout was already
# running), so that a caller stops only a server it started.

log() { echo "$NAME.sh: $*" >&2; }

# EVENTSTORM_MONGODB_URI -> EVENTSTORM_MONGODB_STARTED
STARTED_VAR="${ENV_VAR%_URI}_STARTED"

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
        log "already running (pid $pid): not started by this call"
        echo "export $ENV_VAR=$(cat "$URI_FILE")"
        echo "export $STARTED_VAR=false"
        return 0
    fi
    prepare
    rm -f "${STATE_FILES[@]}"
    launch
    pid="$LAUNCHED_PID"
    echo "$pid" >"$PID_FILE"
    local deadline=$((SECONDS + START_TIMEOUT_SECS))
    until ready; do
        if ! kill -0 "$pid" 2>/dev/null; then
            log "server exited during start-up; last lines of $LOG_FILE:"
            tail -n 20 "$LOG_FILE" >&2 || true
            rm -f "$PID_FILE"
            exit 1
        fi
        if ((SECONDS >= deadline)); then
            log "server was not ready within ${START_TIMEOUT_SECS}s"
            kill "$pid" 2>/dev/null || true
            rm -f "$PID_FILE"
            exit 1
        fi
        sleep 0.1
    done
    log "ready (pid $pid)"
    echo "export $ENV_VAR=$(cat "$URI_FILE")"
    echo "export $STARTED_VAR=true"
}

stop() {
    local pid
    if ! pid="$(running_pid)"; then
        log "not running"
        rm -f "${STATE_FILES[@]}"
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
    rm -f "${STATE_FILES[@]}"
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

dispatch() {
    case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    bin)
        prepare
        echo "$BIN"
        ;;
    *)
        echo "usage: $0 start|stop|status|bin" >&2
        exit 2
        ;;
    esac
}
