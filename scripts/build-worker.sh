#!/usr/bin/env bash
# Builds one worker's release wasm into workers/<name>/build/. Wrangler's
# [build] step runs this from the repository root.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
name="$1"
cd "$ROOT/workers/$name"
worker-build --release
# worker-build keeps the function-name section (about a fifth of the gzip
# size); panics still report their message and source location without it.
# KEEP_WASM_NAMES=1 keeps it, for profiles with function names.
[ -n "${KEEP_WASM_NAMES:-}" ] && exit 0
wasm-opt build/index_bg.wasm -o build/index_bg.wasm --strip-debug --strip-producers \
  --enable-mutable-globals --enable-sign-ext --enable-nontrapping-float-to-int --enable-bulk-memory \
  --enable-multivalue --enable-reference-types --enable-exception-handling
