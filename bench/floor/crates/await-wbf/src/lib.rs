//! Await (2): the same through an async export (wasm-bindgen-futures).

use wasm_bindgen::prelude::*;
use worker::js_sys::Promise;
use worker::wasm_bindgen_futures::JsFuture;
use worker::web_sys;

#[wasm_bindgen(
    wasm_bindgen_futures = worker::wasm_bindgen_futures,
    js_sys = worker::js_sys
)]
pub async fn fetch(
    _request: web_sys::Request,
    _env: JsValue,
    _ctx: JsValue,
) -> Result<web_sys::Response, JsValue> {
    let promise = Promise::resolve(&JsValue::from_str("value"));
    let value = JsFuture::from(promise).await?.as_string();
    web_sys::Response::new_with_opt_str(value.as_deref())
}
