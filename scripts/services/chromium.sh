#!/usr/bin/env bash
# Installs the headless Chromium the dashboard's browser test uses: Debian's
# `chromium`, and the libraries it needs that this system lacks, unpacked
# into the git-ignored .test-env/ with `apt-get download` and `dpkg -x`.
# Nothing is installed system-wide and no browser keeps running: each test
# starts its own headless Chromium with a fresh profile and waits for it.
#
#   eval "$(scripts/services/chromium.sh start)"   # exports EVENTSTORM_CHROMIUM
#   cargo test -p eventstorm-sink --test dashboard_browser
#   scripts/services/chromium.sh stop               # nothing runs: a no-op
#
# Commands:
#   start   unpack Chromium into .test-env/chromium if missing and print
#           `export EVENTSTORM_CHROMIUM=...`: a wrapper that runs that
#           Chromium with its libraries. Where it cannot be installed (no apt,
#           no network), it says so on stderr and prints nothing (the browser
#           test then skips, loudly), unless CI=true: then it fails.
#   stop    nothing to stop (accepted so that every service script has it).
#   status  print whether it is installed.
#   bin     install if missing and print the wrapper's path.
#
# The packages are the ones `apt-get install --simulate chromium` would add
# to this system (so on a system that has more libraries, fewer are
# unpacked). A Chromium already installed system-wide (/usr/bin/chromium) is
# used as it is.
#
# Only the export line goes to stdout (it is meant for `eval`); progress and
# errors go to stderr.
set -euo pipefail

NAME=chromium

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

ENV_DIR="$ROOT/.test-env"
DIR="$ENV_DIR/chromium"
TREE="$DIR/root"
WRAPPER="$DIR/chromium"

log() { echo "$NAME.sh: $*" >&2; }

installed() {
    [[ -x "$WRAPPER" ]] && "$WRAPPER" --version >/dev/null 2>&1
}

# The packages apt would install for chromium on this system (without the
# recommended ones), and chromium itself.
packages() {
    apt-get install --simulate --no-install-recommends chromium 2>/dev/null |
        awk '/^Inst /{print $2}'
}

install() {
    command -v apt-get >/dev/null && command -v dpkg >/dev/null ||
        { log "apt-get and dpkg are needed to unpack Debian's chromium"; return 1; }
    if [[ -x /usr/bin/chromium ]]; then
        log "using the system's /usr/bin/chromium"
        mkdir -p "$DIR"
        cat >"$WRAPPER" <<EOF
#!/bin/sh
# The system's Chromium (written by scripts/services/chromium.sh).
exec /usr/bin/chromium "\$@"
EOF
        chmod +x "$WRAPPER"
        return 0
    fi
    local debs="$DIR/debs" list
    list="$(packages)"
    if [[ -z "$list" ]]; then
        # A new machine may have no package lists yet.
        log "apt cannot resolve chromium: running apt-get update"
        apt-get update -qq >&2 || true
        list="$(packages)"
    fi
    if [[ -z "$list" ]]; then
        log "apt cannot resolve chromium (no package lists, or no chromium in them)"
        return 1
    fi
    rm -rf "$debs" "$TREE"
    mkdir -p "$debs" "$TREE"
    # shellcheck disable=SC2086
    log "downloading" $list
    # shellcheck disable=SC2086
    (cd "$debs" && apt-get download $list >&2) ||
        { log "apt-get download failed (try apt-get update)"; return 1; }
    for deb in "$debs"/*.deb; do
        dpkg -x "$deb" "$TREE"
    done
    local binary="$TREE/usr/lib/chromium/chromium"
    [[ -x "$binary" ]] || { log "$binary is not in the unpacked packages"; return 1; }
    local libs
    libs="$(find "$TREE" -name 'lib*.so*' -printf '%h\n' | sort -u | paste -sd:)"
    cat >"$WRAPPER" <<EOF
#!/bin/sh
# Chromium from $TREE, with its libraries (written by scripts/services/chromium.sh).
LD_LIBRARY_PATH="$libs\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}" exec "$binary" "\$@"
EOF
    chmod +x "$WRAPPER"
    "$WRAPPER" --version >/dev/null || { log "the unpacked chromium does not run"; return 1; }
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
            log "chromium could not be installed and CI=true: failing"
            exit 1
        fi
        log "chromium could not be installed: the browser tests will be skipped"
        exit 0
    fi
    log "ready: $WRAPPER ($("$WRAPPER" --version 2>/dev/null | head -n 1))"
    echo "export EVENTSTORM_CHROMIUM=$WRAPPER"
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
