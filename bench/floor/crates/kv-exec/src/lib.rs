//! KV (3): the same get through a hand-written synchronous export driven by
//! the own executor (`floor_exec::run`, `JsAwait`); served by the plain entry.

use floor_exec::kv::binding;
use floor_exec::{run, JsAwait};
use wasm_bindgen::prelude::*;
use worker::web_sys;

#[wasm_bindgen]
pub fn fetch(_request: web_sys::Request, env: JsValue, _ctx: JsValue) -> Result<JsValue, JsValue> {
    run(async move {
        let kv = binding(&env, "KV")?;
        let value = JsAwait::new(kv.get("k")?).await?.as_string();
        if value.as_deref() == Some("panic") {
            panic!("floor: a panic on purpose, after an await");
        }
        Ok(web_sys::Response::new_with_opt_str(value.as_deref())?.into())
    })
}
