#!/usr/bin/env bash
# Contract tests: Schemathesis checks the running system (the three real
# wasm builds in Miniflare, served by tests/support/serve.mjs) against
# openapi.json: every operation, every check, a bounded number of test
# cases per operation, a fixed seed, and only 127.0.0.1 as a target.
#
#   bash scripts/contract.sh
#
# Environment: CONTRACT_MAX_EXAMPLES, test cases per operation and phase
# (default 100: about 2900 test cases in 80 s on 2 cores); CONTRACT_SEED
# (default 20261126); CONTRACT_PHASES (default
# examples,coverage,fuzzing,stateful).
#
# It does not build: the workers are served from workers/*/build as they
# are. The gateway compiles openapi.json in, so after editing the document
# rebuild before trusting GET /openapi.json (a stale copy is warned about;
# the tests themselves always read the file).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"

MAX_EXAMPLES="${CONTRACT_MAX_EXAMPLES:-100}"
SEED="${CONTRACT_SEED:-20261126}"
PHASES="${CONTRACT_PHASES:-examples,coverage,fuzzing,stateful}"
VENV="$ROOT/.venv"
WORK="$ROOT/target/contract"
NODE="$ROOT/node_modules/.bin/node"

step() { printf '\n==> %s\n' "$*"; }

# Only the server on 127.0.0.1 is ever a target: no proxy in between.
unset HTTP_PROXY HTTPS_PROXY ALL_PROXY http_proxy https_proxy all_proxy
export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost

# Schemathesis and openapi-spec-validator, in .venv (installed by set-up).
bash scripts/setup.sh

step "openapi.json is a valid OpenAPI 3.1 document"
"$VENV/bin/openapi-spec-validator" --schema 3.1 openapi.json

mkdir -p "$WORK"
rm -f "$WORK/serve.out" "$WORK/serve.err" "$WORK/workers.log"

# Schemathesis settings the command line has no flag for. Working state
# (Hypothesis' example database, Schemathesis' cache) stays off or under
# target/, so that every run starts from the same place.
cat >"$WORK/schemathesis.toml" <<'TOML'
[generation]
database = "none"

[cache]
enabled = false

# Schema-valid requests the documented rules still refuse, by design:
# a made-up If-Match is 412 ("when sent and none matches ... 412").
[[operations]]
include-operation-id = ["replaceUser", "patchUser", "deleteUser", "replaceProduct", "patchProduct", "deleteProduct"]
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "412", "429", "5xx"]

# ... and a made-up cursor is 400 ("A cursor the service did not hand out is answered 400").
[[operations]]
include-operation-id = ["listUsers", "listProducts", "listUsersHead", "listProductsHead"]
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "400", "401", "403", "404", "409", "429", "5xx"]
TOML

step "starting the system (tests/support/serve.mjs)"
"$NODE" tests/support/serve.mjs --logs "$WORK/workers.log" >"$WORK/serve.out" 2>"$WORK/serve.err" &
SERVER_PID=$!
SERVER_STOPPED=""
stop_server() {
  [ -n "$SERVER_STOPPED" ] && return "$SERVER_STATUS"
  SERVER_STOPPED=1
  SERVER_STATUS=0
  kill -TERM "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" || SERVER_STATUS=$?
  cat "$WORK/serve.err" >&2
  return "$SERVER_STATUS"
}
trap 'stop_server || true' EXIT

URL=""
for _ in $(seq 1 120); do
  URL="$(sed -n 's/^URL=//p' "$WORK/serve.out")"
  [ -n "$URL" ] && break
  kill -0 "$SERVER_PID" 2>/dev/null || break
  sleep 0.5
done
if [ -z "$URL" ]; then
  echo "contract: the system did not start" >&2
  cat "$WORK/serve.err" >&2
  exit 1
fi
case "$URL" in
  http://127.0.0.1:*) ;;
  *) echo "contract: refusing a target other than 127.0.0.1: $URL" >&2; exit 1 ;;
esac
echo "serving at $URL"

if ! curl -sf "$URL/openapi.json" | cmp -s - openapi.json; then
  echo "contract: warning: GET /openapi.json differs from openapi.json (the gateway build is older than the document); testing against the file"
fi

KEY="$("$NODE" --input-type=module -e 'import { devApiKey } from "./tests/support/system.mjs"; process.stdout.write(devApiKey())')"

step "schemathesis run (at most $MAX_EXAMPLES test cases per operation and phase, seed $SEED)"
CMD=(
  timeout 900 "$VENV/bin/schemathesis" --config-file "$WORK/schemathesis.toml" --no-color
  run "$ROOT/openapi.json"
  --url "$URL"
  --header "Authorization: Bearer $KEY"
  --checks all
  --phases "$PHASES"
  --max-examples "$MAX_EXAMPLES"
  --seed "$SEED"
  --workers 1
  --continue-on-failure
  --request-timeout 10
  --output-truncate false
)
shown="$(printf '%q ' "${CMD[@]}")"
echo "${shown//"$KEY"/<dev key>}"
status=0
started=$SECONDS
# From target/contract: whatever Hypothesis and Schemathesis keep on disk
# goes there. pipefail makes this Schemathesis' own exit status.
(cd "$WORK" && "${CMD[@]}") 2>&1 | tee "$WORK/schemathesis.log" || status=$?
elapsed=$((SECONDS - started))

step "stopping the system (and checking the workers' output for panics)"
panic_status=0
stop_server || panic_status=$?

# The summary, from Schemathesis' own closing lines.
log="$WORK/schemathesis.log"
operations="$(sed -n 's/^ *Tested: *\([0-9][0-9]*\).*/\1/p' "$log" | tail -1)"
[ -n "$operations" ] || operations="$(sed -n 's/.*Operations: *\([0-9][0-9]*\) selected.*/\1/p' "$log" | tail -1)"
cases="$(sed -n 's/^ *\([0-9][0-9]*\) generated.*/\1/p' "$log" | tail -1)"
failures="$(sed -n 's/.* \([0-9][0-9]*\) unique failures\{0,1\}.*/\1/p' "$log" | tail -1)"
errors="$(sed -n 's/^=.* \([0-9][0-9]*\) errors\{0,1\} in .*/\1/p' "$log" | tail -1)"
panicked=""
if grep -q "a worker panicked" "$WORK/serve.err"; then
  panicked=", a worker panicked"
elif [ "$panic_status" -ne 0 ]; then
  panicked=", the server exited $panic_status"
fi
echo "contract: ${operations:-?} operations, ${cases:-?} test cases, ${failures:-0} failures, ${errors:-0} errors${panicked} (schemathesis ${elapsed}s)"

if [ "$status" -ne 0 ] || [ "$panic_status" -ne 0 ]; then
  echo "contract: FAILED (schemathesis exit $status, server exit $panic_status); log: $WORK/schemathesis.log" >&2
  exit 1
fi
echo "contract: passed"
