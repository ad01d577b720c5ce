#!/usr/bin/env bash
# Builds every worker's release wasm.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
for name in products users gateway; do
  bash "$ROOT/scripts/build-worker.sh" "$name"
done
