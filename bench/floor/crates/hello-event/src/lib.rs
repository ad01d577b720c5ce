//! Floor (d): `#[event(fetch)]` with `web_sys` types in the signature, as the
//! product's workers are written, answering a fixed 200.

use worker::{event, web_sys, Context, Env, Result};

#[event(fetch)]
async fn fetch(_request: web_sys::Request, _env: Env, _ctx: Context) -> Result<web_sys::Response> {
    Ok(web_sys::Response::new_with_opt_str(Some("ok"))?)
}
