//! Awaiting a JavaScript promise from Rust: the one place it happens.

use std::future::Future;
use wasm_bindgen::JsValue;
use worker::js_sys::Promise;
use worker::wasm_bindgen_futures::JsFuture;

/// The promise's value, or what it was rejected with.
pub fn settled(promise: Promise) -> impl Future<Output = Result<JsValue, JsValue>> {
    JsFuture::from(promise)
}
