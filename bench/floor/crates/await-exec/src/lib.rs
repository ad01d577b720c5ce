//! Await (3): the same through a sync export on the own executor (`JsAwait`).

use floor_exec::{run, JsAwait};
use wasm_bindgen::prelude::*;
use worker::js_sys::Promise;
use worker::web_sys;

#[wasm_bindgen]
pub fn fetch(_request: web_sys::Request, _env: JsValue, _ctx: JsValue) -> Result<JsValue, JsValue> {
    run(async move {
        let promise = Promise::resolve(&JsValue::from_str("value"));
        let value = JsAwait::new(promise).await?.as_string();
        Ok(web_sys::Response::new_with_opt_str(value.as_deref())?.into())
    })
}
