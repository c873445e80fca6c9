#!/usr/bin/env bash
# Installs the Ruby the C API's Ruby binding is tested with: Debian's `ruby`
# (3.1, Fiddle in its standard library), unpacked into the git-ignored
# .test-env/ with `apt-get download` and `dpkg -x`. Nothing is installed
# system-wide and nothing runs in the background.
#
#   eval "$(scripts/services/ruby.sh start)"   # exports EVENTSTORM_RUBY
#   cargo test -p eventstorm-capi --test ruby
#   scripts/services/ruby.sh stop               # nothing runs: a no-op
#
# Commands:
#   start   unpack Ruby into .test-env/ruby if missing and print
#           `export EVENTSTORM_RUBY=...`: a wrapper that runs that ruby with
#           its libraries (LD_LIBRARY_PATH) and standard library (RUBYLIB).
#           Where it cannot be installed (no apt, no network), it says so on
#           stderr and prints nothing (the tests then skip, loudly), unless
#           CI=true: then it fails.
#   stop    nothing to stop (accepted so that every service script has it).
#   status  print whether it is installed.
#   bin     install if missing and print the wrapper's path.
#
# Only the export line goes to stdout (it is meant for `eval`); progress and
# errors go to stderr.
set -euo pipefail

NAME=ruby
# Ruby 3.1 on Debian 12 (bookworm) and the libraries libruby links beyond a
# base system (unpacked too, so that a slimmer system works).
PACKAGES=(ruby3.1 libruby3.1 libyaml-0-2 libffi8 libgmp10 libedit2)

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

ENV_DIR="$ROOT/.test-env"
DIR="$ENV_DIR/ruby"
TREE="$DIR/root"
WRAPPER="$DIR/ruby"

log() { echo "$NAME.sh: $*" >&2; }

installed() {
    [[ -x "$WRAPPER" && -x "$TREE/usr/bin/ruby3.1" ]]
}

install() {
    command -v apt-get >/dev/null && command -v dpkg >/dev/null ||
        { log "apt-get and dpkg are needed to unpack Debian's ruby"; return 1; }
    local debs="$DIR/debs"
    rm -rf "$debs" "$TREE"
    mkdir -p "$debs" "$TREE"
    log "downloading ${PACKAGES[*]}"
    (cd "$debs" && apt-get download "${PACKAGES[@]}" >&2) ||
        { log "apt-get download failed (try apt-get update)"; return 1; }
    for deb in "$debs"/*.deb; do
        dpkg -x "$deb" "$TREE"
    done
    local rubylib libs
    # The pure-Ruby standard library and the compiled extensions (fiddle.so, json).
    rubylib="$(find "$TREE/usr/lib" -type d -path '*ruby/3.1.0' -printf '%p\n' | sort | paste -sd:)"
    [[ -n "$rubylib" ]] || { log "no ruby/3.1.0 library directory in the unpacked packages"; return 1; }
    local arch
    arch="$(find "$TREE/usr/lib" -type d -path '*ruby/3.1.0/x86_64-linux*' -print -quit || true)"
    [[ -n "$arch" ]] && rubylib="$rubylib:$arch"
    libs="$(find "$TREE" -name 'lib*.so*' -printf '%h\n' | sort -u | paste -sd:)"
    cat >"$WRAPPER" <<EOF
#!/bin/sh
# ruby from $TREE, with its libraries and standard library (written by scripts/services/ruby.sh).
# --disable-gems: RubyGems would look for its files under /usr; the standard library is all the binding needs.
LD_LIBRARY_PATH="$libs\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}" RUBYLIB="$rubylib\${RUBYLIB:+:\$RUBYLIB}" exec "$TREE/usr/bin/ruby3.1" --disable-gems "\$@"
EOF
    chmod +x "$WRAPPER"
    "$WRAPPER" -e 'require "fiddle"; require "json"' >&2 ||
        { log "the unpacked ruby does not run or lacks fiddle/json"; return 1; }
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
            log "ruby could not be installed and CI=true: failing"
            exit 1
        fi
        log "ruby could not be installed: the Ruby binding's tests will be skipped"
        exit 0
    fi
    log "ready: $WRAPPER ($("$WRAPPER" -v | head -n 1))"
    echo "export EVENTSTORM_RUBY=$WRAPPER"
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
