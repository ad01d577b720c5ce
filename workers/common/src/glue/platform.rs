//! The runtime's clock, randomness and panic hook.

use crate::id::uuid_v4;
use wasm_bindgen::prelude::*;
use worker::js_sys;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = crypto, js_name = getRandomValues)]
    fn fill_random(buffer: &mut [u8]);
}

/// Keeps the `worker` crate's panic hook (it tells the runtime to
/// re-initialise the instance) and adds `console_error_panic_hook`'s report.
pub fn chain_panic_hook() {
    let worker_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        console_error_panic_hook::hook(info);
        worker_hook(info);
    }));
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
