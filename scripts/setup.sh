#!/usr/bin/env bash
# Installs what building and testing need, skipping what is already there.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"

WASM_BINDGEN_VERSION="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/"/, "", $3); print $3; exit }' Cargo.lock)"

step() { printf '\n==> %s\n' "$*"; }

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  step "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

for component in clippy rustfmt; do
  if ! rustup component list --installed | grep -q "^$component"; then
    step "adding $component"
    rustup component add "$component"
  fi
done

if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$WASM_BINDGEN_VERSION" ]; then
  step "installing the wasm-bindgen CLI $WASM_BINDGEN_VERSION, the version in Cargo.lock (about 6 minutes, once)"
  # Not --locked: its own lockfile pins a crate the registry no longer serves.
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force
fi

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  step "installing npm packages (wrangler, miniflare, Node 22, binaryen)"
  npm ci --no-audit --no-fund
fi

if [ ! -f workers/gateway/assets/docs/index.html ] || [ -n "$(find workers/gateway/docs package-lock.json -newer workers/gateway/assets/docs/index.html)" ]; then
  step "building the API reference's static assets (Swagger UI, from node_modules)"
  node scripts/docs-assets.mjs
fi

if [ ! -f .dev.vars ]; then
  step "creating .dev.vars from .dev.vars.example (the local API key)"
  cp .dev.vars.example .dev.vars
fi
