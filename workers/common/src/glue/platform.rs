//! The runtime's clock and randomness, and what happens at start: a panic
//! is reported and marks the instance for a reset before the next call
//! (the entry, `workers/common/js/runtime.js`, does the reset), and an abort makes
//! wasm-bindgen re-instantiate the module.

use crate::id::uuid_v4;
use wasm_bindgen::prelude::*;

#[wasm_bindgen(inline_js = "
export const state = globalThis.__worker_init_state ??= { criticalError: false, instanceId: 0 };
")]
extern "C" {
    type InitState;

    #[wasm_bindgen(thread_local_v2, js_name = state)]
    static INIT_STATE: InitState;

    #[wasm_bindgen(method, setter, js_name = criticalError)]
    fn set_critical_error(this: &InitState, value: bool);
}

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = crypto, js_name = getRandomValues)]
    fn fill_random(buffer: &mut [u8]);
}

#[wasm_bindgen(start)]
fn start() {
    std::panic::set_hook(Box::new(|info| {
        console_error_panic_hook::hook(info);
        crate::glue::log::error(&format!("Rust panic: {info}"));
        INIT_STATE.with(|state| state.set_critical_error(true));
    }));
    wasm_bindgen::handler::set_on_abort(wasm_bindgen::handler::schedule_reinit);
}

/// The state the entry reads to know whether the instance must be reset.
#[wasm_bindgen(js_name = "__worker_init_state")]
pub fn worker_init_state() -> JsValue {
    INIT_STATE.with(|state| state.into())
}

pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    fill_random(&mut bytes);
    bytes
}

pub fn new_uuid() -> String {
    uuid_v4(random_bytes())
}

pub fn now_millis() -> u64 {
    js_sys::Date::now() as u64
}
