#!/usr/bin/env bash
# The whole test suite: formatting, lints, native unit tests, release builds
# with their upload sizes, the integration suite against the real wasm
# builds in Miniflare, and the contract run against openapi.json.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"
step() { printf '\n==> %s\n' "$*"; }

bash scripts/setup.sh

# The browser test (tests/docs.test.mjs) drives Debian's chromium; CI runs as root.
if [ ! -x /usr/bin/chromium ]; then
  step "installing Debian's chromium for the browser test"
  if [ "$(id -u)" -ne 0 ]; then
    echo "chromium is missing; install it as root: apt-get install -y chromium" >&2
    exit 1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
fi

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy (native and wasm32, warnings denied)"
cargo clippy --workspace --all-targets -- -D warnings
cargo clippy --workspace --target wasm32-unknown-unknown -- -D warnings

step "cargo test (the pure code, natively)"
cargo test --workspace

step "release builds, checked by wrangler deploy --dry-run"
mkdir -p target
for name in products users gateway; do
  log="target/dry-run-$name.log"
  status=0
  wrangler deploy --dry-run --outdir "target/dry-run/$name" -c "wrangler-$name.toml" >"$log" 2>&1 || status=$?
  grep -E "Total Upload|error|Error" "$log" || true
  if [ "$status" -ne 0 ] || ! grep -q "Total Upload" "$log"; then
    cat "$log"
    echo "wrangler deploy --dry-run failed for $name (exit status $status)" >&2
    exit 1
  fi
done

step "integration suite (Miniflare, through the gateway)"
node --test --test-concurrency=1 "tests/*.test.mjs"

step "contract (Schemathesis against openapi.json)"
bash scripts/contract.sh
