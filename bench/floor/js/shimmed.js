// Floor (c): what worker-build's shim wraps, in plain JavaScript instead of
// wasm-bindgen's output: the two functions the shim calls on the worker
// crate's behalf, and a synchronous `fetch` export. floor.mjs bundles it
// behind the shim text worker-build 0.8.7 generates.
const state = { criticalError: false, instanceId: 0 };

export function __worker_init_state() {
  return state;
}

export function __wbg_reset_state() {}

export function fetch(_request, _env, _ctx) {
  return new Response("ok");
}
