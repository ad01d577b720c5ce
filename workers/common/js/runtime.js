// The entry of every worker: what the runtime calls, and where panic
// recovery lives. A worker's generated `entry.js` is
//
//   import * as wasm from "./index.js";
//   import { entry, durableObject } from ".../runtime.js";
//   export default entry(wasm);
//   export const UserWriter = durableObject(wasm, "UserWriter");
//
// Handlers are plain methods of the default export that call the
// wasm-bindgen exports directly: nothing is constructed per request, and
// a Response the Rust side produced without waiting goes back as it is.
//
// Recovery: a Rust panic sets `criticalError` in the state the module
// shares (`__worker_init_state`), and so does a WebAssembly.RuntimeError
// seen here; the next call into the module first resets the instance
// (`__wbg_reset_state`, from wasm-bindgen's
// --experimental-reset-state-function). Durable Objects made before a
// reset are made again on their next call: their memory is gone, their
// SQLite storage is not.

const HANDLERS = ["fetch", "queue", "scheduled"];

let state;

function initState(wasm) {
  state ??= wasm.__worker_init_state?.() ?? { criticalError: false, instanceId: 0 };
  return state;
}

function ensureLive(wasm) {
  if (state.criticalError) {
    console.log("Reinitializing Wasm application");
    wasm.__wbg_reset_state();
    state.criticalError = false;
    state.instanceId++;
  }
}

function noteCritical(error) {
  if (error instanceof WebAssembly.RuntimeError) {
    console.error("Critical", error);
    state.criticalError = true;
  }
}

/** The default export: one method per handler the module exports. */
export function entry(wasm) {
  initState(wasm);
  addEventListener("error", (event) => noteCritical(event.error));
  const handlers = {};
  for (const name of HANDLERS.filter((name) => typeof wasm[name] === "function")) {
    const handler = wasm[name];
    handlers[name] = function (event, env, ctx) {
      ensureLive(wasm);
      try {
        return handler(event, env, ctx);
      } catch (error) {
        noteCritical(error);
        throw error;
      }
    };
  }
  return handlers;
}

/** A Durable Object class around the wasm-bindgen class `name`. */
export function durableObject(wasm, name) {
  initState(wasm);
  const Inner = wasm[name];
  class Wrapped {
    constructor(ctx, env) {
      this.ctx = ctx;
      this.env = env;
      ensureLive(wasm);
      this.make();
    }

    make() {
      try {
        this.inner = new Inner(this.ctx, this.env);
      } catch (error) {
        noteCritical(error);
        throw error;
      }
      this.instanceId = state.instanceId;
    }
  }
  const skip = new Set(["constructor", "free", "__destroy_into_raw"]);
  for (const method of Object.getOwnPropertyNames(Inner.prototype)) {
    const { value } = Object.getOwnPropertyDescriptor(Inner.prototype, method);
    if (skip.has(method) || typeof value !== "function") continue;
    Wrapped.prototype[method] = function (...args) {
      ensureLive(wasm);
      if (this.instanceId !== state.instanceId) this.make();
      try {
        return this.inner[method](...args);
      } catch (error) {
        noteCritical(error);
        throw error;
      }
    };
  }
  Object.defineProperty(Wrapped, "name", { value: name });
  return Wrapped;
}
