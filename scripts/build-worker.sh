#!/usr/bin/env bash
# Builds one worker's release into workers/<name>/build/: worker.js (the
# main module) and index_bg.wasm. Wrangler's [build] step runs this from
# the repository root. The pipeline: cargo, the wasm-bindgen CLI (panic
# recovery: --experimental-reset-state-function and the abort handler),
# wasm-opt, and esbuild over an entry generated from what the module exports
# (scripts/worker-entry.mjs, workers/common/js/runtime.js). The gateway's
# static assets (the API reference at /docs) are built beside it.
# KEEP_WASM_NAMES=1 keeps function names, for profiles. REUSE_BUILD=1 keeps
# a build that is already there (test.sh's per-environment dry runs: the
# same code, built by the top-level dry run just before).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
name="$1"
out="$ROOT/workers/$name/build"
cd "$ROOT"
if [ -n "${REUSE_BUILD:-}" ] && [ -f "$out/worker.js" ] && [ -f "$out/index_bg.wasm" ]; then
  exit 0
fi
cargo build --lib --release --target wasm32-unknown-unknown -p "$name" --quiet
rm -rf "$out" && mkdir -p "$out"
wasm-bindgen "target/wasm32-unknown-unknown/release/$name.wasm" --out-dir "$out" --out-name index \
  --target module --no-typescript --experimental-reset-state-function --force-enable-abort-handler \
  ${KEEP_WASM_NAMES:+--keep-debug}
strip=(--strip-debug --strip-producers)
[ -n "${KEEP_WASM_NAMES:-}" ] && strip=(--debuginfo)
wasm-opt "$out/index_bg.wasm" -o "$out/index_bg.wasm" -Oz "${strip[@]}" \
  --enable-mutable-globals --enable-sign-ext --enable-nontrapping-float-to-int --enable-bulk-memory \
  --enable-multivalue --enable-reference-types --enable-exception-handling
node scripts/worker-entry.mjs "$out" > /dev/null
esbuild "$out/entry.js" --bundle --format=esm --minify --outfile="$out/worker.js" \
  --external:./index_bg.wasm --external:'cloudflare:*' --log-level=warning \
  --log-override:duplicate-object-key=silent
sed -i 's/import source /import /' "$out/worker.js"
rm -rf "$out/index.js" "$out/entry.js" "$out/snippets"
if [ "$name" = gateway ]; then
  node scripts/docs-assets.mjs
fi
