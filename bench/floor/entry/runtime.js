// The plain entry of the own pipeline: what replaces worker-build's shim.
// The generated entry (see build.mjs) is
//
//   import * as wasm from "./index.js";
//   import { entry, durableObject } from ".../entry/runtime.js";
//   export default entry(wasm, ["fetch", "queue"]);
//   export const Counter = durableObject(wasm, "Counter");
//
// Handlers are plain methods of the default export object that call the
// wasm-bindgen exports directly: no WorkerEntrypoint constructed per
// request, no Proxy, no extra async hop. A synchronous export's Response is
// returned as it is.
//
// Panic recovery, as worker-build's shim does it: the worker crate's panic
// hook sets `criticalError` in the state it shares with JS
// (`__worker_init_state`), and a WebAssembly.RuntimeError seen here sets it
// too; the next call into the instance first resets it
// (`__wbg_reset_state`, emitted by wasm-bindgen's
// `--experimental-reset-state-function`). Durable Object instances made
// before a reset are made again on their next call, as their memory is gone.

const HANDLERS = ["fetch", "queue", "scheduled", "email", "connect"];

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
export function entry(wasm, names = HANDLERS.filter((name) => typeof wasm[name] === "function")) {
  initState(wasm);
  addEventListener("error", (event) => noteCritical(event.error));
  const handlers = {};
  for (const name of names) {
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

/**
 * A Durable Object class around the wasm-bindgen class `name`: each call
 * goes to the current instance's object, made again after a reset.
 */
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
    // Descriptors, not values: reading an accessor would call into the wasm.
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
