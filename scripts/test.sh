#!/usr/bin/env bash
# The whole test suite, as README.md gives it: formatting, lints, docs, every
# test against real test servers (started here, in the git-ignored .test-env/,
# and stopped on exit), the examples, and the benches' build.
#
#   scripts/test.sh            everything
#   scripts/test.sh --quick    skip the release build of the examples and benches
set -euo pipefail
cd "$(dirname "$0")/.."

quick=false
[[ "${1:-}" == "--quick" ]] && quick=true

step() { printf '\n==> %s\n' "$*"; }

services=()
cleanup() {
  for service in "${services[@]}"; do
    scripts/services/"$service".sh stop || true
  done
}
trap cleanup EXIT

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo doc"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet

step "library crates without their default features"
for crate in eventstorm-core eventstorm-source eventstorm-router eventstorm-sink; do
  cargo clippy --quiet -p "$crate" --no-default-features -- -D warnings
done
cargo clippy --quiet -p eventstorm-core --no-default-features --features transport -- -D warnings

step "a library user builds none of the binaries' dependencies (feature cli)"
for crate in eventstorm-source eventstorm-router eventstorm-sink; do
  if cargo tree --quiet -p "$crate" -e normal,build --prefix none \
       | grep -E '^(clap|signal-hook|tracing-subscriber) '; then
    echo "$crate: the crates above are built for library users; make them optional behind the cli feature" >&2
    exit 1
  fi
done

step "rust-version: nothing in Cargo.lock needs a newer Rust"
# Newer std APIs in our own code are caught by clippy (incompatible_msrv).
msrv_check=$(cat <<'PY'
import json, sys

def version(text):
    parts = [int(part) for part in text.split(".")]
    return tuple(parts + [0] * (3 - len(parts)))

meta = json.load(sys.stdin)
members = set(meta["workspace_members"])
pinned = {p["rust_version"] for p in meta["packages"] if p["id"] in members}
if len(pinned) != 1 or None in pinned:
    sys.exit(f"workspace members must inherit one rust-version, found {sorted(map(str, pinned))}")
msrv = pinned.pop()
newer = [
    f"{p['name']} {p['version']} needs Rust {p['rust_version']}"
    for p in meta["packages"]
    if p["rust_version"] and version(p["rust_version"]) > version(msrv)
]
if newer:
    sys.exit(f"rust-version is {msrv}, but in Cargo.lock:\n  " + "\n  ".join(newer))
print(f"rust-version {msrv}: all {len(meta['packages'])} packages in Cargo.lock accept it")
PY
)
cargo metadata --format-version 1 --locked --all-features | python3 -c "$msrv_check"

# Test servers: each script prints VAR=value lines for the tests to read.
for service in mongo cql python; do
  step "starting the $service test server"
  env_lines=$(scripts/services/"$service".sh start)
  echo "$env_lines"
  while IFS= read -r line; do
    line=${line#export }
    if [[ "$line" == EVENTSTORM_*=* ]]; then export "${line?}"; fi
  done <<<"$env_lines"
  # Stop on exit only a server this script started (not one already running).
  if grep -q '^export EVENTSTORM_[A-Z]*_STARTED=true$' <<<"$env_lines"; then services+=("$service"); fi
done

step "cargo test"
cargo test --workspace --all-targets --no-fail-fast
cargo test --workspace --doc

if [[ "$quick" == false ]]; then
  step "examples (release build) and the quickstart"
  cargo build --release -p eventstorm-examples --examples
  last=$(cargo run --release --quiet -p eventstorm-examples --example quickstart 2>/dev/null | tail -n 1)
  echo "quickstart: $last"
  if ! [[ "$last" =~ ^sent=([0-9]+)\ received=([0-9]+)\ lost=0$ ]] \
     || [[ "${BASH_REMATCH[1]}" != "${BASH_REMATCH[2]}" ]] || [[ "${BASH_REMATCH[1]}" == 0 ]]; then
    echo "quickstart's last line is not 'sent=N received=N lost=0'" >&2
    exit 1
  fi

  step "cargo bench --no-run"
  cargo bench --workspace --no-run
fi

step "all checks passed"
