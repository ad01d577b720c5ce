#!/usr/bin/env bash
# Installs what building and testing need, skipping what is already there.
# Needs Rust through rustup, Node.js with npm, and python3.
#
# The parts that are missing run side by side, each with its output in
# target/setup/<part>.log; a line says when each starts and ends (with its
# duration), every 30 s a line says what is still running, and a part that
# fails is named with the end of its log (the others still finish, then
# set-up exits 1). To add a part: a check below that calls
# `start <part> "<what>" <command...>` when something is missing.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"

WASM_BINDGEN_VERSION="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/"/, "", $3); print $3; exit }' Cargo.lock)"
CONTRACT_TOOLS="schemathesis==4.32.5 openapi-spec-validator==0.9.0"
VENV="$ROOT/.venv"
LOGS="target/setup"

for tool in rustup cargo npm python3; do
  if ! command -v "$tool" >/dev/null; then
    echo "set-up: $tool is missing; install Rust with rustup, Node.js with npm, and python3 first" >&2
    exit 1
  fi
done

# The parts started: names, process ids, start times (indexed arrays: bash 3 has no others).
PART_NAMES=()
PART_PIDS=()
PART_STARTS=()

start() {
  local name="$1" what="$2"
  shift 2
  mkdir -p "$LOGS"
  set -m # its own process group, so that an interrupt can stop all of it
  "$@" >"$LOGS/$name.log" 2>&1 </dev/null &
  set +m
  PART_NAMES+=("$name")
  PART_PIDS+=("$!")
  PART_STARTS+=("$SECONDS")
  echo "==> set-up: $name started: $what"
}

# Waits for every part, checking each one's exit status as it ends.
finish() {
  local failed=0 running=${#PART_PIDS[@]} next_report=$((SECONDS + 30)) i status still
  while [ "$running" -gt 0 ]; do
    for i in "${!PART_PIDS[@]}"; do
      [ -n "${PART_PIDS[$i]}" ] && ! kill -0 "${PART_PIDS[$i]}" 2>/dev/null || continue
      status=0
      wait "${PART_PIDS[$i]}" || status=$?
      PART_PIDS[$i]=""
      running=$((running - 1))
      if [ "$status" -eq 0 ]; then
        echo "==> set-up: ${PART_NAMES[$i]} done in $((SECONDS - PART_STARTS[i])) s"
      else
        failed=1
        echo "==> set-up: ${PART_NAMES[$i]} FAILED (exit status $status) after $((SECONDS - PART_STARTS[i])) s;" \
          "the end of $LOGS/${PART_NAMES[$i]}.log:" >&2
        tail -n 25 "$LOGS/${PART_NAMES[$i]}.log" | sed 's/^/    /' >&2
      fi
    done
    if [ "$running" -gt 0 ] && [ "$SECONDS" -ge "$next_report" ]; then
      still=""
      for i in "${!PART_PIDS[@]}"; do
        [ -n "${PART_PIDS[$i]}" ] && still+=" ${PART_NAMES[$i]} ($((SECONDS - PART_STARTS[i])) s)"
      done
      echo "==> set-up: still running:$still"
      next_report=$((SECONDS + 30))
    fi
    if [ "$running" -gt 0 ]; then sleep 0.2; fi
  done
  return "$failed"
}

# Interrupted: stop the parts this run started (their process groups), and only those.
stop_parts() {
  local pid
  for pid in "${PART_PIDS[@]}"; do
    [ -n "$pid" ] && kill -- "-$pid" 2>/dev/null || true
  done
}
trap stop_parts EXIT
trap 'exit 130' INT TERM

install_rust_parts() {
  rustup target add wasm32-unknown-unknown
  rustup component add clippy rustfmt
}

install_wasm_bindgen() {
  # Not --locked: its own lockfile pins a crate the registry no longer serves.
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force
  [ "$(wasm-bindgen --version | awk '{print $2}')" = "$WASM_BINDGEN_VERSION" ]
}

install_contract_tools() {
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  # shellcheck disable=SC2086 # the list is meant to split
  "$VENV/bin/python" -m pip install --disable-pip-version-check $CONTRACT_TOOLS
  echo "$CONTRACT_TOOLS" >"$VENV/installed-contract-tools"
}

contract_tools_installed() {
  [ "$(cat "$VENV/installed-contract-tools" 2>/dev/null)" = "$CONTRACT_TOOLS" ] && return 0
  # A virtualenv made before that record was kept: keep it when its versions match.
  [ "$("$VENV/bin/python" -c 'import importlib.metadata as m
print(" ".join(f"{n}=={m.version(n)}" for n in ("schemathesis", "openapi-spec-validator")))' 2>/dev/null)" = "$CONTRACT_TOOLS" ] &&
    echo "$CONTRACT_TOOLS" >"$VENV/installed-contract-tools"
}

installed_components="$(rustup component list --installed)"
missing_rust=""
for component in rust-std-wasm32-unknown-unknown clippy rustfmt; do
  grep -q "^$component" <<<"$installed_components" || missing_rust+=" $component"
done
if [ -n "$missing_rust" ]; then
  start rust "rustup adds$missing_rust" install_rust_parts
fi

if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$WASM_BINDGEN_VERSION" ]; then
  start wasm-bindgen "cargo install wasm-bindgen-cli $WASM_BINDGEN_VERSION, the version in Cargo.lock (about 8 minutes on 2 cores, once)" \
    install_wasm_bindgen
fi

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  start npm "npm ci (wrangler, Miniflare, Node 22, binaryen, esbuild)" npm ci --no-audit --no-fund
fi

if ! contract_tools_installed; then
  start contract-tools "a virtualenv in .venv with $CONTRACT_TOOLS" install_contract_tools
fi

if [ ! -f .dev.vars ]; then
  cp .dev.vars.example .dev.vars
  echo "==> set-up: created .dev.vars from .dev.vars.example (the local secrets)"
else
  # A .dev.vars from an earlier checkout gets the secrets added since.
  for key in $(sed -n 's/^\([A-Z_]*\)=.*/\1/p' .dev.vars.example); do
    if ! grep -q "^$key=" .dev.vars; then
      if [ -n "$(tail -c1 .dev.vars)" ]; then echo >>.dev.vars; fi
      grep "^$key=" .dev.vars.example >>.dev.vars
      echo "==> set-up: added $key to .dev.vars from .dev.vars.example"
    fi
  done
fi

if [ "${#PART_NAMES[@]}" -gt 0 ]; then
  if ! finish; then
    echo "set-up failed: see the part(s) above; running it again retries only what is missing" >&2
    exit 1
  fi
  echo "==> set-up: complete in $SECONDS s"
fi

# Swagger UI comes from node_modules, so after npm's part.
if [ ! -f workers/gateway/assets/docs/index.html ] || [ -n "$(find workers/gateway/docs package-lock.json -newer workers/gateway/assets/docs/index.html)" ]; then
  echo "==> set-up: building the API reference's static assets (Swagger UI, from node_modules)"
  node scripts/docs-assets.mjs
fi
