#!/usr/bin/env bash
# Runs the whole system locally: builds, seeds local KV (persisted under
# .wrangler/state), and serves the gateway on http://127.0.0.1:8787 with
# users and products behind it, all in one wrangler process; the API
# reference is at /docs.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"
bash scripts/setup.sh
node scripts/seed.mjs
printf '\n==> the API on http://127.0.0.1:%s, its reference at http://127.0.0.1:%s/docs\n\n' "${PORT:-8787}" "${PORT:-8787}"
exec wrangler dev -c wrangler-gateway.toml -c wrangler-users.toml -c wrangler-products.toml \
  --ip 127.0.0.1 --port "${PORT:-8787}" --persist-to .wrangler/state "$@"
