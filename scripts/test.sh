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

step "environments kept apart (scripts/check-environments.mjs)"
node scripts/check-environments.mjs

# One worker in one environment ("" is the top level) through wrangler deploy
# --dry-run: fails on wrangler's exit status, on a binding list an
# environment lacks (wrangler only warns: they are not inherited), and on a
# gzip upload over the limit. The top level builds the worker; the
# environments reuse that build (the same code).
MAX_UPLOAD_GZIP_KIB=150
dry_run() {
  local name="$1" environment="$2"
  local label="$name${environment:+ --env $environment}" slug="$name${environment:+-$environment}"
  local log="target/dry-run/$slug.log" status=0 upload gzip
  REUSE_BUILD="${environment:+1}" wrangler deploy --dry-run ${environment:+--env "$environment"} \
    --outdir "target/dry-run/$slug" -c "wrangler-$name.toml" >"$log" 2>&1 || status=$?
  upload="$(sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -m1 "Total Upload:" || true)"
  gzip="$(sed -n 's/.*gzip: \([0-9.]*\) KiB.*/\1/p' <<<"$upload")"
  printf '%-28s %s\n' "$label" "${upload:-(no upload size)}"
  if [ "$status" -ne 0 ] || [ -z "$gzip" ]; then
    cat "$log"
    echo "wrangler deploy --dry-run failed for $label (exit status $status)" >&2
    return 1
  fi
  if grep -q "is not inherited by environments" "$log"; then
    cat "$log"
    echo "$label: the environment lacks a binding list of the top level (see the warning above)" >&2
    return 1
  fi
  if awk -v gzip="$gzip" -v max="$MAX_UPLOAD_GZIP_KIB" 'BEGIN { exit !(gzip > max) }'; then
    echo "$label: the gzip upload is $gzip KiB, over the $MAX_UPLOAD_GZIP_KIB KiB limit" >&2
    return 1
  fi
}

step "release builds, checked by wrangler deploy --dry-run in every environment"
mkdir -p target/dry-run
for environment in "" $(node scripts/check-environments.mjs --names); do
  for name in products users gateway; do
    dry_run "$name" "$environment"
  done
done

step "integration suite (Miniflare, through the gateway)"
node --test --test-concurrency=1 "tests/*.test.mjs"

step "contract (Schemathesis against openapi.json)"
bash scripts/contract.sh
