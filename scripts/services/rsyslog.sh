#!/usr/bin/env bash
# Installs the rsyslog the tests use as a foreign ZeroMQ publisher: Debian's
# `rsyslog` with `rsyslog-czmq` (the omczmq output), unpacked into the
# git-ignored .test-env/ with `apt-get download` and `dpkg -x`. Nothing is
# installed system-wide and no daemon is started: each test runs its own
# rsyslogd, with its own configuration, in its own directory.
#
#   eval "$(scripts/services/rsyslog.sh start)"   # exports EVENTSTORM_RSYSLOGD
#   cargo test -p eventstorm-source --test zmq_rsyslog
#   scripts/services/rsyslog.sh stop               # nothing runs: a no-op
#
# Commands:
#   start   unpack rsyslog and omczmq into .test-env/rsyslog if missing and
#           print `export EVENTSTORM_RSYSLOGD=...`: a wrapper that runs that
#           rsyslogd with its libraries and modules. Where they cannot be
#           installed (no apt, no network), it says so on stderr and prints
#           nothing (the tests then skip, loudly), unless CI=true: then it
#           fails.
#   stop    nothing to stop (accepted so that every service script has it).
#   status  print whether it is installed.
#   bin     install if missing and print the wrapper's path.
#
# Only the export line goes to stdout (it is meant for `eval`); progress and
# errors go to stderr.
set -euo pipefail

NAME=rsyslog
# The packages omczmq needs beyond a base Debian 12 (bookworm) system.
PACKAGES=(rsyslog rsyslog-czmq libczmq4 libzmq5 libnorm1 libpgm-5.3-0 libestr0 libfastjson4 liblognorm5)

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

ENV_DIR="$ROOT/.test-env"
DIR="$ENV_DIR/rsyslog"
TREE="$DIR/root"
WRAPPER="$DIR/rsyslogd"

log() { echo "$NAME.sh: $*" >&2; }

installed() {
    [[ -x "$WRAPPER" && -x "$TREE/usr/sbin/rsyslogd" ]] &&
        [[ -n "$(find "$TREE" -name omczmq.so -print -quit 2>/dev/null)" ]]
}

install() {
    command -v apt-get >/dev/null && command -v dpkg >/dev/null ||
        { log "apt-get and dpkg are needed to unpack Debian's rsyslog"; return 1; }
    local debs="$DIR/debs"
    rm -rf "$debs" "$TREE"
    mkdir -p "$debs" "$TREE"
    log "downloading ${PACKAGES[*]}"
    (cd "$debs" && apt-get download "${PACKAGES[@]}" >&2) ||
        { log "apt-get download failed (try apt-get update)"; return 1; }
    for deb in "$debs"/*.deb; do
        dpkg -x "$deb" "$TREE"
    done
    local module
    module="$(find "$TREE" -name omczmq.so -print -quit)"
    [[ -n "$module" ]] || { log "omczmq.so is not in the unpacked packages"; return 1; }
    local moddir libs
    moddir="$(dirname "$module")"
    libs="$(find "$TREE" -name 'lib*.so*' -printf '%h\n' | sort -u | paste -sd:)"
    cat >"$WRAPPER" <<EOF
#!/bin/sh
# rsyslogd from $TREE, with its libraries and modules (written by scripts/services/rsyslog.sh).
LD_LIBRARY_PATH="$libs\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}" exec "$TREE/usr/sbin/rsyslogd" -M "$moddir" "\$@"
EOF
    chmod +x "$WRAPPER"
    "$WRAPPER" -v >/dev/null || { log "the unpacked rsyslogd does not run"; return 1; }
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
            log "rsyslog could not be installed and CI=true: failing"
            exit 1
        fi
        log "rsyslog could not be installed: the rsyslog tests will be skipped"
        exit 0
    fi
    log "ready: $WRAPPER ($("$WRAPPER" -v | head -n 1))"
    echo "export EVENTSTORM_RSYSLOGD=$WRAPPER"
    ;;
stop) log "nothing to stop" ;;
status)
    if installed; then echo "installed at $WRAPPER"; else echo "not installed"; fi
    ;;
bin)
    prepare
    echo "$WRAPPER"
    ;;
*)
    echo "usage: $0 start|stop|status|bin" >&2
    exit 2
    ;;
esac
