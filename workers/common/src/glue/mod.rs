//! The thin layer between the pure code and the Workers runtime (wasm32
//! only), one module per thing it wraps. Handlers take `web_sys::Request`
//! and answer `web_sys::Response`, which spares a URL parse and header
//! copies per request.

pub mod durable;
pub mod env;
pub mod executor;
pub mod kv;
pub mod log;
pub mod platform;
pub mod promise;
pub mod queue;
pub mod request;
pub mod resource;
pub mod response;
pub mod serve;
pub mod service;
mod slots;
pub mod stream;

pub use executor::run;
pub use {js_sys, web_sys};

use wasm_bindgen::{JsCast, JsValue};

/// What a JavaScript error says, for a log line.
pub fn describe(error: &JsValue) -> String {
    error
        .dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| error.as_string())
        .unwrap_or_else(|| "unknown error".to_string())
}
