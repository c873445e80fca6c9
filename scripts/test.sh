#!/usr/bin/env bash
# The whole test suite, as README.md gives it: formatting, lints, docs, every
# test against real test servers (started here, in the git-ignored .test-env/,
# and stopped on exit), the examples, and the benches' build.
#
#   scripts/test.sh            everything
#   scripts/test.sh --quick    skip the examples (release build and runs) and the benches' build
set -euo pipefail
cd "$(dirname "$0")/.."

quick=false
[[ "${1:-}" == "--quick" ]] && quick=true

step() { printf '\n==> %s\n' "$*"; }

services=()
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
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
# The sink binary's engine embedded without any database sink.
cargo clippy --quiet -p eventstorm-sink --no-default-features --features service -- -D warnings
# The CURVE tests (linted here; built and run against a libzmq with CURVE below).
cargo clippy --quiet -p eventstorm-router --all-targets --features curve-tests -- -D warnings

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
for service in mongo cql python rsyslog ruby chromium; do
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

step "CURVE: the security tests against Debian's libzmq (target/curve)"
# The vendored libzmq has no CURVE; scripts/services/libzmq.sh unpacks one
# that has (it fails under CI=true when it cannot), and only the router's
# tests are built against it, in a target directory of their own.
curve_env=$(scripts/services/libzmq.sh start)
if [[ -n "$curve_env" ]]; then
  (eval "$curve_env" && scripts/cargo-curve.sh test -p eventstorm-router --features curve-tests --test curve)
else
  echo "no libzmq with CURVE: the CURVE tests did not run (see scripts/services/libzmq.sh)" >&2
fi

if [[ "$quick" == false ]]; then
  step "examples (release build)"
  cargo build --release -p eventstorm-examples --examples
  logs=.test-env/examples
  mkdir -p "$logs"

  # Runs one example with the given arguments: it must exit 0 within the
  # given seconds (a bound that proves it does not hang, not a speed target).
  # Its stdout and stderr are kept in $logs/.
  run_example() {
    local name=$1 seconds=$2
    shift 2
    step "example $name"
    if ! timeout "$seconds" cargo run --release --quiet -p eventstorm-examples --example "$name" -- "$@" \
         >"$logs/$name.out" 2>"$logs/$name.err"; then
      tail -n 20 "$logs/$name.err" >&2
      echo "example $name failed or did not end within ${seconds}s (output in $logs/)" >&2
      exit 1
    fi
    tail -n 1 "$logs/$name.out"
  }

  run_example quickstart 120
  last=$(tail -n 1 "$logs/quickstart.out")
  if ! [[ "$last" =~ ^sent=([0-9]+)\ received=([0-9]+)\ lost=0$ ]] \
     || [[ "${BASH_REMATCH[1]}" != "${BASH_REMATCH[2]}" ]] || [[ "${BASH_REMATCH[1]}" == 0 ]]; then
    echo "quickstart's last line is not 'sent=N received=N lost=0'" >&2
    exit 1
  fi
  # Self-contained: everything they need is in the process.
  for name in custom_sink router_embedded router_chain router_vs_proxy; do
    run_example "$name" 300
  done
  # Against the test servers started above (EVENTSTORM_MONGODB_URI, EVENTSTORM_CQL_URI).
  run_example mongo_sink 300
  run_example cql_sink 300

  # The two-process pair: the subscriber prints its counters every 2 s;
  # wait until they account for every event the publisher numbered.
  ipc_dir=$(mktemp -d)
  endpoint="ipc://$ipc_dir/pubsub"
  count=10000
  timeout 300 cargo run --release --quiet -p eventstorm-examples --example pubsub_subscriber -- "$endpoint" \
    >/dev/null 2>"$logs/pubsub_subscriber.err" &
  pids+=("$!")
  run_example pubsub_publisher 120 "$endpoint" "$count"
  accounted() {
    local line total=0 key
    line=$(grep 'received=' "$logs/pubsub_subscriber.err" | tail -n 1) || return 1
    for key in received lost missed_at_join; do
      [[ "$line" =~ (^|\ )$key=([0-9]+) ]] || return 1
      total=$((total + BASH_REMATCH[2]))
    done
    ((total == count))
  }
  deadline=$((SECONDS + 60))
  until accounted; do
    if ((SECONDS >= deadline)) || ! kill -0 "${pids[-1]}" 2>/dev/null; then
      tail -n 5 "$logs/pubsub_subscriber.err" >&2
      echo "pubsub_subscriber did not account for the $count events sent (received + lost + missed_at_join)" >&2
      exit 1
    fi
    sleep 0.2
  done
  kill "${pids[-1]}"
  wait "${pids[-1]}" || true
  rm -rf "$ipc_dir"
  grep 'received=' "$logs/pubsub_subscriber.err" | tail -n 1

  step "cargo bench --no-run"
  cargo bench --workspace --no-run
fi

step "all checks passed"
