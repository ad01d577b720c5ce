#!/usr/bin/env bash
# Builds one worker's release wasm into workers/<name>/build/. Wrangler's
# [build] step runs this from the repository root.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
name="$1"
cd "$ROOT/workers/$name"
worker-build --release
