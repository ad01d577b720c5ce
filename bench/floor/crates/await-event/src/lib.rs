//! Await (1): one JS promise awaited, its value answered, through
//! `#[event(fetch)]` and `JsFuture`. A promise that is already resolved
//! (`Promise.resolve`), so the await machinery is all that is measured,
//! without the KV simulation's own cost and noise.

use worker::js_sys::Promise;
use worker::wasm_bindgen::JsValue;
use worker::wasm_bindgen_futures::JsFuture;
use worker::{event, web_sys, Context, Env, Result};

#[event(fetch)]
async fn fetch(_request: web_sys::Request, _env: Env, _ctx: Context) -> Result<web_sys::Response> {
    let promise = Promise::resolve(&JsValue::from_str("value"));
    let value = JsFuture::from(promise).await?.as_string();
    Ok(web_sys::Response::new_with_opt_str(value.as_deref())?)
}
