#!/usr/bin/env bash
# The benchmark: our three wasm workers against the Hono peer
# (../shared/peers/hono), side by side in Miniflare, driven by wrk. Prints
# the tables and writes bench/RESULTS.md; it never fails on a number.
# Settings: BENCH_DURATION (s per run, 5), BENCH_ROUNDS (3),
# BENCH_CONNECTIONS (8); BENCH_BEFORE=<git ref> adds a before/after table:
# that commit, checked out, set up and built on its own, runs in the same
# rounds as this one.
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
cleanup() {
  [ -d "$WORK_DIR/before" ] && git -C "$ROOT" worktree remove --force "$WORK_DIR/before"
  rm -rf "$WORK_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step "bundling the Hono peer (a copy, with hono installed)"
PEER_DIR="$WORK_DIR/hono"
cp -r "$ROOT/../shared/peers/hono" "$PEER_DIR"
chmod -R u+w "$PEER_DIR"
(cd "$PEER_DIR" && npm install --no-audit --no-fund --loglevel=error)
# The parity peer (bench/parity/) is bundled beside it, against the same hono.
cp -r "$ROOT/bench/parity" "$PEER_DIR/parity"
for name in gateway users products; do
  esbuild "$PEER_DIR/$name.ts" --bundle --format=esm --platform=browser \
    --conditions=workerd,worker,browser --outfile="$PEER_DIR/dist/$name.js" --log-level=warning
  esbuild "$PEER_DIR/parity/$name.ts" --bundle --format=esm --platform=browser \
    --conditions=workerd,worker,browser --outfile="$PEER_DIR/parity-dist/$name.js" --log-level=warning
done

BEFORE_DIR=""
if [ -n "${BENCH_BEFORE:-}" ]; then
  step "checking out and building $BENCH_BEFORE (the before of the before/after)"
  BEFORE_DIR="$WORK_DIR/before"
  git -C "$ROOT" worktree add --detach "$BEFORE_DIR" "$BENCH_BEFORE"
  cp "$ROOT/.dev.vars" "$BEFORE_DIR/.dev.vars"
  (cd "$BEFORE_DIR" && bash scripts/setup.sh && bash scripts/build.sh)
fi

step "benchmark"
BENCH_PEER_DIR="$PEER_DIR" BENCH_WORK_DIR="$WORK_DIR" BENCH_BEFORE_DIR="$BEFORE_DIR" node bench/bench.mjs
