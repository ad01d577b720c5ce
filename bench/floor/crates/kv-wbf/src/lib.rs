//! KV (2): the same get through a hand-written async export, which
//! wasm-bindgen drives with wasm-bindgen-futures (`future_to_promise`,
//! `JsFuture`); served by the plain entry of the own pipeline.

use floor_exec::kv::binding;
use wasm_bindgen::prelude::*;
use worker::wasm_bindgen_futures::JsFuture;
use worker::web_sys;

#[wasm_bindgen(
    wasm_bindgen_futures = worker::wasm_bindgen_futures,
    js_sys = worker::js_sys
)]
pub async fn fetch(
    _request: web_sys::Request,
    env: JsValue,
    _ctx: JsValue,
) -> Result<web_sys::Response, JsValue> {
    let kv = binding(&env, "KV")?;
    let value = JsFuture::from(kv.get("k")?).await?.as_string();
    if value.as_deref() == Some("panic") {
        panic!("floor: a panic on purpose, after an await");
    }
    web_sys::Response::new_with_opt_str(value.as_deref())
}
