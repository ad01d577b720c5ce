// Prices the runtime calls the product makes per request: GET /<call>/<K>
// makes K of that call, then answers a fixed 200. The CPU per request at
// several K, less the baseline, gives the cost of one call.
const decoder = new TextDecoder("utf-8", { ignoreBOM: true, fatal: true });
const memory = new Uint8Array(64 * 1024);
memory.set(new TextEncoder().encode("x-request-id: 0123456789abcdef"), 1024);
const LINE = '{"level":"info","msg":"request","status":200,"ms":1}';
const registry = new FinalizationRegistry(() => {});

const CALLS = {
  none() {},
  // Reads a header the request carries.
  headersGet(request) {
    return request.headers.get("user-agent");
  },
  headersSet(_request, scratch) {
    scratch.headers.set("x-request-id", "0123456789abcdef");
  },
  // A copy of the incoming headers, as a forwarding gateway makes.
  headersCopy(request) {
    return new Headers(request.headers);
  },
  // How wasm-bindgen reads a Rust string: a view of memory, decoded.
  decode() {
    return decoder.decode(memory.subarray(1024, 1024 + 30));
  },
  request(_request, scratch) {
    return new Request("https://users.internal/users/1", { method: "GET", headers: scratch.headers });
  },
  response(_request, scratch) {
    return new Response('{"id":"1","name":"Ada"}', { status: 200, headers: scratch.headers });
  },
  abortTimeout() {
    return AbortSignal.timeout(1500);
  },
  consoleLog() {
    console.log(LINE);
  },
  // What each JsFuture await adds on the JS side besides the promise: a
  // function object registered for finalization (wasm-bindgen's Closure).
  // One promise hop, as each `.await` on a JS promise takes at least.
  await() {
    return Promise.resolve();
  },
  closureRegistered() {
    const callback = () => {};
    registry.register(callback, 1, callback);
    return callback;
  },
};

export default {
  async fetch(request) {
    const [, name, count] = new URL(request.url).pathname.split("/");
    const call = CALLS[name];
    if (!call) return new Response("no such call", { status: 404 });
    const scratch = { headers: new Headers({ "content-type": "application/json" }) };
    const k = Number(count ?? 1);
    if (name === "await") {
      for (let i = 0; i < k; i += 1) await call();
    } else {
      for (let i = 0; i < k; i += 1) call(request, scratch);
    }
    return new Response("ok");
  },
};
