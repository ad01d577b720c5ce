//! Floors (e) and (f): a hand-written synchronous `fetch` export, no future,
//! no promise. worker-build's shim picks up an export named `fetch` (e); the
//! own pipeline's plain entry calls it directly (f).

use wasm_bindgen::prelude::*;
use worker::web_sys;

#[wasm_bindgen]
pub fn fetch(
    _request: web_sys::Request,
    _env: JsValue,
    _ctx: JsValue,
) -> Result<web_sys::Response, JsValue> {
    web_sys::Response::new_with_opt_str(Some("ok"))
}
