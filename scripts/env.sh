# Sourced by the other scripts: the tools every step uses, found locally so
# that nothing is downloaded at build time (wasm-bindgen from cargo's bin
# folder, $CARGO_HOME/bin or else ~/.cargo/bin; esbuild, wasm-opt, wrangler
# and Node 22 from node_modules).
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$ROOT/node_modules/.bin:${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
