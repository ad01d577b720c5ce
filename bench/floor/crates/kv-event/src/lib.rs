//! KV (1): one KV get answered as the body, through `#[event(fetch)]` and
//! worker-build's shim, awaiting with `JsFuture` as the product does.

use floor_exec::kv::binding;
use worker::wasm_bindgen_futures::JsFuture;
use worker::{event, web_sys, Context, Env, Result};

#[event(fetch)]
async fn fetch(_request: web_sys::Request, env: Env, _ctx: Context) -> Result<web_sys::Response> {
    let kv = binding(&env, "KV")?;
    let value = JsFuture::from(kv.get("k")?).await?.as_string();
    if value.as_deref() == Some("panic") {
        panic!("floor: a panic on purpose, after an await");
    }
    Ok(web_sys::Response::new_with_opt_str(value.as_deref())?)
}
