#!/usr/bin/env bash
# The benchmark: our three wasm workers against the Hono peer
# (../shared/peers/hono), side by side in Miniflare, driven by wrk. Prints
# the tables and writes bench/RESULTS.md; it never fails on a number.
# Settings: BENCH_DURATION (s per run, 5), BENCH_ROUNDS (3),
# BENCH_CONNECTIONS (8).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"
step() { printf '\n==> %s\n' "$*"; }

bash scripts/setup.sh

step "release wasm build"
bash scripts/build.sh

if ! command -v wrk >/dev/null; then
  step "installing wrk"
  apt-get install -y wrk || { apt-get update && apt-get install -y wrk; }
fi

WORK_DIR="$(mktemp -d -t bench.XXXXXX)"
trap 'rm -rf "$WORK_DIR"' EXIT
trap 'exit 130' INT TERM

step "bundling the Hono peer (a copy, with hono installed)"
PEER_DIR="$WORK_DIR/hono"
cp -r "$ROOT/../shared/peers/hono" "$PEER_DIR"
chmod -R u+w "$PEER_DIR"
(cd "$PEER_DIR" && npm install --no-audit --no-fund --loglevel=error)
for name in gateway users products; do
  esbuild "$PEER_DIR/$name.ts" --bundle --format=esm --platform=browser \
    --conditions=workerd,worker,browser --outfile="$PEER_DIR/dist/$name.js" --log-level=warning
done

step "benchmark"
BENCH_PEER_DIR="$PEER_DIR" BENCH_WORK_DIR="$WORK_DIR" node bench/bench.mjs
