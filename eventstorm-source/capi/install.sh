#!/usr/bin/env bash
# Installs libeventstorm (shared and static), its header and its pkg-config
# file under a prefix, from a cargo build of this crate:
#
#   cargo build --release -p eventstorm-capi
#   eventstorm-source/capi/install.sh /usr/local            # or ~/.local, ...
#   cc app.c $(pkg-config --cflags --libs eventstorm)
#
# Usage: install.sh PREFIX [LIBRARY_DIR]
#   PREFIX       where lib/, include/ and lib/pkgconfig/ go
#   LIBRARY_DIR  where cargo put libeventstorm.{so,a} (default: target/release
#                of the workspace)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
prefix="${1:?usage: install.sh PREFIX [LIBRARY_DIR]}"
libdir_in="${2:-$root/target/release}"

for file in libeventstorm.so libeventstorm.a; do
    [[ -f "$libdir_in/$file" ]] || {
        echo "install.sh: $libdir_in/$file is missing: run cargo build --release -p eventstorm-capi first" >&2
        exit 1
    }
done
version="$(sed -n 's/^version = "\(.*\)"$/\1/p' "$root/Cargo.toml" | head -n 1)"
[[ -n "$version" ]] || { echo "install.sh: no version in $root/Cargo.toml" >&2; exit 1; }
prefix="$(mkdir -p "$prefix" && cd "$prefix" && pwd)"

install -d "$prefix/lib/pkgconfig" "$prefix/include"
install -m 0755 "$libdir_in/libeventstorm.so" "$prefix/lib/"
install -m 0644 "$libdir_in/libeventstorm.a" "$prefix/lib/"
install -m 0644 "$here/include/eventstorm.h" "$prefix/include/"
sed -e "s|@PREFIX@|$prefix|" -e "s|@VERSION@|$version|" "$here/eventstorm.pc.in" \
    >"$prefix/lib/pkgconfig/eventstorm.pc"
echo "installed libeventstorm $version under $prefix" >&2
