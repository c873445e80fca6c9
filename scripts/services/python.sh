#!/usr/bin/env bash
# Installs the Python interpreter the tests use to run the Python example of
# docs/wire-format.md (pyzmq and pymongo's bson, in a git-ignored venv).
#
#   eval "$(scripts/services/python.sh start)"   # exports EVENTSTORM_PYTHON
#   cargo test -p eventstorm-router --test python_example
#   scripts/services/python.sh stop               # nothing runs: a no-op
#
# Commands:
#   start   install pyzmq and pymongo into .test-env/venv-python if missing
#           and print `export EVENTSTORM_PYTHON=...` (the venv's python3).
#   stop    nothing to stop (accepted so that every service script has it).
#   status  print whether the venv is installed.
#   bin     install if missing and print the interpreter's path.
#
# Only the export line goes to stdout (it is meant for `eval`); progress and
# errors go to stderr.
set -euo pipefail

NAME=python
PYZMQ_VERSION="27.3.0"
PYMONGO_VERSION="4.20.0"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

ENV_DIR="$ROOT/.test-env"
VENV="$ENV_DIR/venv-python"
BIN="$VENV/bin/python3"

log() { echo "$NAME.sh: $*" >&2; }

installed() {
    [[ -x "$BIN" ]] &&
        "$VENV/bin/pip" show pyzmq 2>/dev/null | grep -qx "Version: $PYZMQ_VERSION" &&
        "$VENV/bin/pip" show pymongo 2>/dev/null | grep -qx "Version: $PYMONGO_VERSION"
}

prepare() {
    installed && return 0
    mkdir -p "$ENV_DIR"
    log "installing pyzmq==$PYZMQ_VERSION and pymongo==$PYMONGO_VERSION into $VENV"
    [[ -x "$VENV/bin/pip" ]] || python3 -m venv "$VENV" >&2
    "$VENV/bin/pip" install --quiet "pyzmq==$PYZMQ_VERSION" "pymongo==$PYMONGO_VERSION" >&2
    "$BIN" -c 'import zmq, bson' >&2 || { log "pyzmq or bson does not import in $VENV"; exit 1; }
}

case "${1:-}" in
start)
    prepare
    log "ready: $BIN (libzmq $("$BIN" -c 'import zmq; print(zmq.zmq_version())'))"
    echo "export EVENTSTORM_PYTHON=$BIN"
    ;;
stop) log "nothing to stop" ;;
status)
    if installed; then echo "installed at $BIN"; else echo "not installed"; fi
    ;;
bin)
    prepare
    echo "$BIN"
    ;;
*)
    echo "usage: $0 start|stop|status|bin" >&2
    exit 2
    ;;
esac
